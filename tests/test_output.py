"""The flush's terminal output: the progress bar's line, the summary's reason lines, and
per-trigger logging."""

from __future__ import annotations

import datetime as dt
import io
import logging
import zoneinfo

from django.core.management.base import OutputWrapper
from django.test import override_settings

from django_brockman.engine import FlushResult
from django_brockman.management.output import (
    MAX_REASON_LINES,
    ProgressBar,
    format_duration,
    format_time,
    handled,
    log_each_trigger,
    reason_lines,
)
from django_brockman.outcomes import Fate, Group, Reason


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


def test_progress_line_shows_bar_count_outcomes_rate_and_time_left() -> None:
    bar = ProgressBar(400, OutputWrapper(io.StringIO()))

    line = bar.line(FlushResult(sent=100), 10.0)

    assert line == (
        f"[{'#' * 7}{'-' * 23}] 100/400  100 sent, 0 to retry, 0 failed  10.0/s  0:00:30 left"
    )


def test_progress_line_draws_retries_and_failures_unlike_sends() -> None:
    bar = ProgressBar(40, OutputWrapper(io.StringIO()))

    line = bar.line(FlushResult(sent=4, retried=20, failed=4, released=2), 10.0)

    # 30 cells for 40 triggers: the sent 3, those to retry 15, the failed 3.
    assert line.startswith(f"[{'#' * 3}{'~' * 15}{'!' * 3}{'-' * 9}] 30/40  ")
    assert "4 sent, 20 to retry, 4 failed" in line


def test_progress_line_of_a_run_where_every_request_fails_has_no_success_cell() -> None:
    bar = ProgressBar(7, OutputWrapper(io.StringIO()))

    line = bar.line(FlushResult(retried=7), 1.0)

    assert line.startswith(f"[{'~' * 30}] 7/7  0 sent, 7 to retry, 0 failed")


def test_progress_line_before_any_rate_is_known() -> None:
    bar = ProgressBar(10, OutputWrapper(io.StringIO()))

    assert bar.line(FlushResult(), 0.0) == (
        f"[{'-' * 30}] 0/10  0 sent, 0 to retry, 0 failed  0.0/s  ? left"
    )


def test_progress_line_of_nothing_to_do_is_full() -> None:
    bar = ProgressBar(0, OutputWrapper(io.StringIO()))

    assert bar.line(FlushResult(), 1.0).startswith(f"[{'#' * 30}] 0/0  ")


def test_progress_line_grows_the_total_when_more_fall_due() -> None:
    bar = ProgressBar(5, OutputWrapper(io.StringIO()))

    assert bar.line(FlushResult(sent=8), 2.0) == (
        f"[{'#' * 30}] 8/8  8 sent, 0 to retry, 0 failed  4.0/s  0:00:00 left"
    )


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
    assert lines[1].endswith("1/4  1 sent, 0 to retry, 0 failed  1.0/s  0:00:03 left")
    assert lines[2].endswith("4/4  3 sent, 0 to retry, 1 failed  2.0/s  0:00:00 left\n")


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


# The summary's reason lines ---------------------------------------------------------------

URL = "http://127.0.0.1:9999/api/v1/trigger/"
NOW = dt.datetime(2026, 12, 1, 22, 40, 1, tzinfo=dt.timezone.utc)


def test_reason_lines_name_count_cause_url_and_next_attempt() -> None:
    result = FlushResult(
        retried=14,
        failed=3,
        reasons=[
            Group(Fate.RETRY, Reason("connection refused", URL), 14, NOW.replace(second=5)),
            Group(Fate.FAILED, Reason("HTTP 503", URL, out_of_attempts=True), 2),
            Group(Fate.FAILED, Reason("HTTP 400", URL), 1),
        ],
    )

    assert reason_lines(result, NOW) == [
        f"14 to retry: connection refused ({URL}), next attempt from 22:40:05 UTC",
        f"2 failed after their last attempt: HTTP 503 ({URL})",
        f"1 failed: HTTP 400 ({URL})",
    ]


def test_reason_lines_show_the_time_in_utc_and_the_date_when_not_today() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    tomorrow = dt.datetime(2026, 12, 2, 0, 30, tzinfo=paris)  # 23:30 UTC today
    later = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.timezone.utc)

    assert format_time(tomorrow, NOW) == "23:30:00 UTC"
    assert format_time(later, NOW) == "2026-12-02 09:00:00 UTC"


@override_settings(USE_TZ=False, TIME_ZONE="Europe/Paris")
def test_reason_lines_without_time_zone_support_name_the_local_zone() -> None:
    now = dt.datetime(2026, 12, 1, 23, 40)

    assert format_time(dt.datetime(2026, 12, 1, 23, 41), now) == "23:41:00 Europe/Paris"


def test_reason_lines_without_url_or_next_attempt() -> None:
    result = FlushResult(reasons=[Group(Fate.RETRY, Reason("RuntimeError"), 1)])

    assert reason_lines(result, NOW) == ["1 to retry: RuntimeError"]


def test_reason_lines_are_bounded_whatever_the_server_answers() -> None:
    groups = [Group(Fate.FAILED, Reason(f"HTTP {400 + n}", URL), 20 - n) for n in range(14)]

    lines = reason_lines(FlushResult(reasons=groups), NOW)

    assert len(lines) == MAX_REASON_LINES + 1
    assert lines[-1] == (
        "34 more to retry or failed, for 4 other reasons (--verbosity 2 shows each trigger's)."
    )
