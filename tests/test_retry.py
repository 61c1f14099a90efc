"""RetryPolicy: what each delivery outcome means, backoff bounds and Retry-After."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from django_brockman.exceptions import (
    BadAPIKey,
    BadRequest,
    FocusLabError,
    NetworkError,
    ResourceNotFound,
    ServerError,
    Timeout,
    UnknownError,
)
from django_brockman.retry import RetryPolicy, Verdict, parse_retry_after

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def policy(max_attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(base=2.0, cap=60.0, max_attempts=max_attempts, rng=random.Random(7))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 3 ", NOW + timedelta(seconds=3)),
        ("Fri, 02 Jan 2026 03:14:05 GMT", NOW + timedelta(minutes=10)),
        # A date already past means "now", not a time in the past.
        ("Thu, 01 Jan 2026 00:00:00 GMT", NOW),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        # No zone, so no instant: ignored rather than guessed.
        ("Fri, 02 Jan 2026 03:14:05 -0000", None),
    ],
)
def test_parse_retry_after_by_form(value: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("attempts", [1, 2, 3, 6, 20])
def test_backoff_stays_within_exponential_ceiling_and_cap(attempts: int) -> None:
    ceiling = min(60.0, 2.0 * 2 ** (attempts - 1))

    waits = [policy().backoff(attempts) for _ in range(50)]

    assert all(0 <= wait <= ceiling for wait in waits)


def test_backoff_is_jittered() -> None:
    retry = policy()

    assert len({retry.backoff(6) for _ in range(10)}) > 1


def test_decide_without_error_is_sent() -> None:
    assert policy().decide(None, 1, NOW).verdict is Verdict.SENT


@pytest.mark.parametrize(
    "error", [BadAPIKey(status=401), BadAPIKey(status=403), ResourceNotFound(status=404)]
)
def test_decide_on_configuration_errors_stops_the_run(error: FocusLabError) -> None:
    outcome = policy().decide(error, 1, NOW)

    assert (outcome.verdict, outcome.error) == (Verdict.STOP, str(error))


@pytest.mark.parametrize(
    "error", [BadRequest(status=400), UnknownError(status=200), UnknownError(status=410)]
)
def test_decide_on_rejected_trigger_fails_it_at_once(error: FocusLabError) -> None:
    outcome = policy().decide(error, 1, NOW)

    assert (outcome.verdict, outcome.retry_at, outcome.error) == (
        Verdict.FAILED,
        None,
        str(error),
    )


@pytest.mark.parametrize(
    "error",
    [
        ServerError(status=500),
        ServerError(status=503),
        UnknownError(status=408),
        UnknownError(status=425),
        UnknownError(status=429),
        NetworkError(),
        Timeout(),
    ],
)
def test_decide_on_transient_errors_retries_within_backoff(error: FocusLabError) -> None:
    outcome = policy().decide(error, 3, NOW)

    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_at is not None
    assert NOW <= outcome.retry_at <= NOW + timedelta(seconds=8)
    assert outcome.error == str(error)


def test_decide_on_last_allowed_attempt_gives_up() -> None:
    outcome = policy(max_attempts=3).decide(ServerError(status=502), 3, NOW)

    assert outcome.verdict is Verdict.FAILED
    assert outcome.error.startswith("gave up after 3 attempts: ")


def test_decide_honours_retry_after_later_than_backoff() -> None:
    error = UnknownError(status=429, retry_after="3600")

    outcome = policy().decide(error, 1, NOW)

    assert outcome.retry_at == NOW + timedelta(hours=1)


def test_decide_keeps_backoff_when_retry_after_is_sooner() -> None:
    retry = RetryPolicy(base=600.0, cap=600.0, max_attempts=5, rng=random.Random(1))
    expected = NOW + timedelta(seconds=RetryPolicy(600.0, 600.0, 5, random.Random(1)).backoff(1))

    outcome = retry.decide(ServerError(status=503, retry_after="0"), 1, NOW)

    assert outcome.retry_at == expected


@override_settings(
    BROCKMAN_RETRY_BASE_SECONDS=1.5, BROCKMAN_RETRY_CAP_SECONDS=90, BROCKMAN_MAX_ATTEMPTS=4
)
def test_from_settings_reads_the_settings() -> None:
    retry = RetryPolicy.from_settings()

    assert (retry.base, retry.cap, retry.max_attempts) == (1.5, 90, 4)


def test_from_settings_defaults() -> None:
    retry = RetryPolicy.from_settings()

    assert (retry.base, retry.cap, retry.max_attempts) == (5.0, 3600.0, 15)
