"""What the flush command shows on a terminal: a progress bar, or each trigger's outcome."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.management.base import OutputWrapper

    from django_brockman.engine import FlushResult

LOGGER = "django_brockman"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BAR_WIDTH = 30


def handled(result: FlushResult) -> int:
    """Triggers the run has finished with, whatever became of them."""
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
        line = self.line(handled(result), self.clock() - self.started)
        self.stream.write("\r" + line, ending="")
        self.stream.flush()
        self.drawn = True

    def line(self, done: int, elapsed: float) -> str:
        # Triggers that fall due during the run make the total grow.
        total = max(self.total, done)
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        rate = done / elapsed if elapsed > 0 else 0.0
        left = format_duration((total - done) / rate) if rate else "?"
        return f"[{bar}] {done}/{total}  {rate:.1f}/s  {left} left"

    def finish(self) -> None:
        """End the bar's line, so what follows starts on a new one."""
        if self.drawn:
            self.stream.write("")


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
