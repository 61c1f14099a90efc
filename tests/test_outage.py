"""OutageLog: a worker's outage logged once when it starts and once when it ends."""

from __future__ import annotations

import logging

import pytest

from django_brockman.engine import FlushResult
from django_brockman.outage import OutageLog, format_lasted
from django_brockman.outcomes import Reason
from tests.clock import FakeClock

URL = "http://127.0.0.1:9999/api/v1/trigger/"
REFUSED = Reason("connection refused", URL)


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(record.levelname, record.getMessage()) for record in caplog.records]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def log(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> OutageLog:
    caplog.set_level(logging.DEBUG, logger="django_brockman")
    return OutageLog(clock, lambda: 42)


def test_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    log: OutageLog, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = FlushResult(retried=3, delivery_errors=3, latest_failure=REFUSED)
    log(first)
    first.delivery_errors = 9  # the same run: more attempts failed
    log(first)
    log(FlushResult(retried=3, delivery_errors=3, latest_failure=REFUSED))  # the next run
    clock.advance(75)
    log(FlushResult(sent=2, retried=1, delivery_errors=1, latest_failure=REFUSED))
    log(FlushResult(sent=5))

    assert messages(caplog) == [
        (
            "WARNING",
            f"Delivery to FocusLab is failing: connection refused ({URL}). Triggers wait in "
            "the outbox and are retried; this is logged once, and again when delivery "
            "resumes.",
        ),
        ("WARNING", "Delivering to FocusLab again after 75 s; 42 triggers still waiting."),
    ]


def test_outage_log_is_quiet_while_delivery_works(
    log: OutageLog, caplog: pytest.LogCaptureFixture
) -> None:
    result = FlushResult(sent=1)
    log(result)
    # Some attempts fail while others deliver: not an outage.
    result.sent, result.delivery_errors, result.latest_failure = 2, 1, REFUSED
    log(result)
    log(FlushResult())  # a run that found nothing due

    assert messages(caplog) == []


def test_outage_starting_within_a_run_that_had_delivered_is_logged(
    log: OutageLog, caplog: pytest.LogCaptureFixture
) -> None:
    result = FlushResult(sent=10)
    log(result)
    result.delivery_errors, result.latest_failure = 4, REFUSED
    log(result)

    assert [level for level, _ in messages(caplog)] == ["WARNING"]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.4, "0 s"), (119, "119 s"), (120, "2 min"), (7199, "119 min"), (11100, "3 h 5 min")],
)
def test_format_lasted(seconds: float, shown: str) -> None:
    assert format_lasted(seconds) == shown
