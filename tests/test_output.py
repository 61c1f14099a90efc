"""The flush's terminal output: the progress bar's line, and per-trigger logging."""

from __future__ import annotations

import io
import logging

from django.core.management.base import OutputWrapper

from django_brockman.engine import FlushResult
from django_brockman.management.output import (
    ProgressBar,
    format_duration,
    handled,
    log_each_trigger,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_format_duration_is_hours_minutes_seconds() -> None:
    assert format_duration(0) == "0:00:00"
    assert format_duration(61.4) == "0:01:01"
    assert format_duration(3 * 3600 + 7) == "3:00:07"


def test_handled_counts_every_outcome() -> None:
    result = FlushResult(claimed=20, sent=5, retried=4, failed=3, released=2, lost=1)

    assert handled(result) == 15


def test_progress_line_shows_bar_count_rate_and_time_left() -> None:
    bar = ProgressBar(400, OutputWrapper(io.StringIO()))

    assert bar.line(100, 10.0) == f"[{'#' * 7}{'-' * 23}] 100/400  10.0/s  0:00:30 left"


def test_progress_line_before_any_rate_is_known() -> None:
    bar = ProgressBar(10, OutputWrapper(io.StringIO()))

    assert bar.line(0, 0.0) == f"[{'-' * 30}] 0/10  0.0/s  ? left"


def test_progress_line_grows_the_total_when_more_fall_due() -> None:
    bar = ProgressBar(5, OutputWrapper(io.StringIO()))

    assert bar.line(8, 2.0) == f"[{'#' * 30}] 8/8  4.0/s  0:00:00 left"


def test_progress_bar_redraws_one_line_and_finishes_it() -> None:
    out = io.StringIO()
    clock = Clock()
    bar = ProgressBar(4, OutputWrapper(out), clock=clock)

    clock.now += 1
    bar(FlushResult(sent=1))
    clock.now += 1
    bar(FlushResult(sent=3, failed=1))
    bar.finish()

    lines = out.getvalue().split("\r")
    assert lines[0] == ""
    assert lines[1].endswith("1/4  1.0/s  0:00:03 left")
    assert lines[2].endswith("4/4  2.0/s  0:00:00 left\n")


def test_progress_bar_finish_writes_nothing_when_never_drawn() -> None:
    out = io.StringIO()

    ProgressBar(3, OutputWrapper(out)).finish()

    assert out.getvalue() == ""


def test_log_each_trigger_shows_debug_records_then_restores_the_logger() -> None:
    logger = logging.getLogger("django_brockman")
    level, handlers = logger.level, list(logger.handlers)
    out = io.StringIO()

    with log_each_trigger(out):
        logging.getLogger("django_brockman.engine").debug("Trigger %s sent", "abc")
    logging.getLogger("django_brockman.engine").debug("after the block")

    assert out.getvalue().endswith("DEBUG django_brockman.engine: Trigger abc sent\n")
    assert "after the block" not in out.getvalue()
    assert (logger.level, logger.handlers) == (level, handlers)
