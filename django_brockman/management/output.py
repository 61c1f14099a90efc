"""What the flush command shows: a progress bar or each trigger's outcome, and a summary
that says why triggers wait or failed."""

from __future__ import annotations

import datetime as dt
import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.utils import timezone

from django_brockman.outcomes import Fate, Group

if TYPE_CHECKING:
    from django.core.management.base import OutputWrapper

    from django_brockman.engine import FlushResult

LOGGER = "django_brockman"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BAR_WIDTH = 30
# The bar's cells: sent, to retry, failed; the rest is "-".
BAR_MARKS = (("sent", "#"), ("retried", "~"), ("failed", "!"))
# Reasons listed in a summary; a hostile server could vary its status without end.
MAX_REASON_LINES = 10


def handled(result: FlushResult) -> int:
    """Triggers the run has finished with, whatever became of them (each counted once)."""
    return result.sent + result.retried + result.failed + result.released + result.lost


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Redraw one line (bar, count, rate, time left) each time the flusher reports."""

    def __init__(
        self,
        total: int,
        stream: OutputWrapper,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.drawn = False

    def __call__(self, result: FlushResult) -> None:
        line = self.line(result, self.clock() - self.started)
        self.stream.write("\r" + line, ending="")
        self.stream.flush()
        self.drawn = True

    def line(self, result: FlushResult, elapsed: float) -> str:
        done = handled(result)
        # Triggers that fall due during the run make the total grow.
        total = max(self.total, done)
        rate = done / elapsed if elapsed > 0 else 0.0
        left = format_duration((total - done) / rate) if rate else "?"
        counts = f"{result.sent} sent, {result.retried} to retry, {result.failed} failed"
        return f"[{bar(result, total)}] {done}/{total}  {counts}  {rate:.1f}/s  {left} left"

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a new one."""
        if self.drawn:
            self.stream.write("")


def bar(result: FlushResult, total: int) -> str:
    """Cells for the sent (#), the triggers to retry (~) and the failed (!): a run in
    which every request fails does not look like one that succeeds."""
    if not total:
        return "#" * BAR_WIDTH
    cells, covered = "", 0
    for name, mark in BAR_MARKS:
        covered += getattr(result, name)
        cells += mark * (BAR_WIDTH * covered // total - len(cells))
    return cells + "-" * (BAR_WIDTH - len(cells))


def reason_lines(result: FlushResult, now: dt.datetime) -> list[str]:
    """One line per reason triggers wait or failed, the largest groups first."""
    lines = [reason_line(group, now) for group in result.reasons[:MAX_REASON_LINES]]
    rest = result.reasons[MAX_REASON_LINES:]
    if rest:
        count = sum(group.count for group in rest)
        lines.append(
            f"{count} more to retry or failed, for {len(rest)} other reasons "
            "(--verbosity 2 shows each trigger's)."
        )
    return lines


def reason_line(group: Group, now: dt.datetime) -> str:
    if group.fate is Fate.RETRY:
        line = f"{group.count} to retry: {group.reason}"
        if group.next_attempt is not None:
            line += f", next attempt from {format_time(group.next_attempt, now)}"
        return line
    if group.reason.out_of_attempts:
        return f"{group.count} failed after their last attempt: {group.reason}"
    return f"{group.count} failed: {group.reason}"


def format_time(when: dt.datetime, now: dt.datetime) -> str:
    """*when* in UTC (with USE_TZ = False, in TIME_ZONE), and its date unless it is today."""
    if timezone.is_aware(when):
        when, now, zone = when.astimezone(dt.timezone.utc), now.astimezone(dt.timezone.utc), "UTC"
    else:
        zone = timezone.get_default_timezone_name()
    shown = when.strftime("%H:%M:%S" if when.date() == now.date() else "%Y-%m-%d %H:%M:%S")
    return f"{shown} {zone}"


def undelivered_message(result: FlushResult) -> str:
    """The error of a run that delivered nothing (exit status 5)."""
    return (
        "Nothing was delivered: FocusLab could not be reached or answered only with errors "
        f"(the latest: {result.latest_failure}). The triggers wait in the outbox; a later "
        "run retries them."
    )


@contextmanager
def log_each_trigger(stream: io.TextIOBase) -> Iterator[None]:
    """Show the django_brockman loggers' records, down to DEBUG, on *stream* meanwhile."""
    logger = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
