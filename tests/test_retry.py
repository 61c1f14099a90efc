"""RetryPolicy: what each answer means, Retry-After in both forms, backoff bounds, max attempts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

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
from django_brockman.retry import (
    MAX_RETRY_AFTER,
    RetryPolicy,
    Verdict,
    parse_retry_after,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def policy(
    base: float = 2.0, cap: float = 60.0, max_attempts: int = 5, seed: int = 7
) -> RetryPolicy:
    return RetryPolicy(base=base, cap=cap, max_attempts=max_attempts, rng=random.Random(seed))


def test_decide_success_is_sent() -> None:
    assert policy().decide(None, 1, NOW).verdict is Verdict.ACCEPTED


@pytest.mark.parametrize(
    "error",
    [
        ServerError(status=500),
        ServerError(status=502),
        ServerError(status=503),
        ServerError(status=599),
        UnknownError(status=408),
        UnknownError(status=425),
        UnknownError(status=429),
        NetworkError("connection refused"),
        Timeout(),
    ],
    ids=["500", "502", "503", "599", "408", "425", "429", "connection", "timeout"],
)
def test_decide_transient_error_is_retried_later(error: FocusLabError) -> None:
    outcome = policy().decide(error, 1, NOW)

    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_at is not None
    assert NOW <= outcome.retry_at <= NOW + timedelta(seconds=2)
    assert outcome.error == str(error)


@pytest.mark.parametrize(
    "error",
    [
        BadRequest(status=400, body="object is required"),
        UnknownError(status=409),
        UnknownError(status=413),
        UnknownError(status=422),
    ],
    ids=["400", "409", "413", "422"],
)
def test_decide_client_error_fails_at_once_with_reason(error: FocusLabError) -> None:
    outcome = policy().decide(error, 1, NOW)

    assert outcome.verdict is Verdict.GIVE_UP
    assert outcome.retry_at is None
    assert outcome.error == str(error)


def test_decide_bad_request_keeps_body_in_reason() -> None:
    outcome = policy().decide(BadRequest(status=400, body="object is required"), 1, NOW)

    assert "HTTP 400" in outcome.error
    assert "object is required" in outcome.error


@pytest.mark.parametrize(
    "error",
    [BadAPIKey(status=401), BadAPIKey(status=403), ResourceNotFound(status=404)],
    ids=["401", "403", "404"],
)
def test_decide_configuration_error_stops_the_run(error: FocusLabError) -> None:
    outcome = policy().decide(error, 1, NOW)

    assert outcome.verdict is Verdict.STOP
    assert outcome.retry_at is None
    assert outcome.error == str(error)


@pytest.mark.parametrize("status", [200, 202, 302, 307])
def test_decide_unexpected_success_or_redirect_is_retried(status: int) -> None:
    assert policy().decide(UnknownError(status=status), 1, NOW).verdict is Verdict.RETRY


def test_decide_error_without_status_is_retried() -> None:
    assert policy().decide(FocusLabError("backend trouble"), 1, NOW).verdict is Verdict.RETRY


def test_decide_unexpected_exception_is_retried_with_its_type() -> None:
    outcome = policy().decide(KeyError("actor"), 1, NOW)

    assert outcome.verdict is Verdict.RETRY
    assert outcome.error == "KeyError: 'actor'"


def test_decide_last_attempt_fails_with_last_error() -> None:
    error = ServerError(status=503, body="down for maintenance")

    assert policy(max_attempts=3).decide(error, 2, NOW).verdict is Verdict.RETRY
    outcome = policy(max_attempts=3).decide(error, 3, NOW)

    assert outcome.verdict is Verdict.GIVE_UP
    assert outcome.error == f"gave up after 3 attempts: {error}"
    assert "down for maintenance" in outcome.error


def test_decide_max_attempts_one_never_retries() -> None:
    assert policy(max_attempts=1).decide(Timeout(), 1, NOW).verdict is Verdict.GIVE_UP


def test_decide_unexpected_exception_fails_after_last_attempt() -> None:
    outcome = policy(max_attempts=2).decide(RuntimeError("bug"), 2, NOW)

    assert outcome.verdict is Verdict.GIVE_UP
    assert outcome.error == "gave up after 2 attempts: RuntimeError: bug"


@pytest.mark.parametrize("attempts", [1, 2, 3, 4, 5, 6, 7, 8])
def test_backoff_stays_within_full_jitter_bounds(attempts: int) -> None:
    retry = policy(base=2.0, cap=60.0, seed=attempts)
    ceiling = min(60.0, 2.0 * 2 ** (attempts - 1))

    delays = [retry.backoff(attempts) for _ in range(500)]

    assert all(0 <= delay <= ceiling for delay in delays)
    # Full jitter spreads over the whole range, not just near the ceiling.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9


def test_backoff_is_capped() -> None:
    retry = policy(base=2.0, cap=60.0)

    assert max(retry.backoff(40) for _ in range(500)) <= 60.0


def test_backoff_huge_attempt_count_does_not_overflow() -> None:
    assert 0 <= policy(base=5.0, cap=3600.0).backoff(100_000) <= 3600.0


def test_backoff_same_seed_same_delays() -> None:
    assert [policy(seed=3).backoff(4) for _ in range(3)] == [policy(seed=3).backoff(4)] * 3


def test_decide_retry_at_follows_backoff_from_seeded_rng() -> None:
    expected = random.Random(11).uniform(0, 8.0)  # base 2, third attempt: ceiling 8

    outcome = policy(seed=11).decide(ServerError(status=500), 3, NOW)

    assert outcome.retry_at == NOW + timedelta(seconds=expected)


def test_decide_honours_retry_after_seconds() -> None:
    error = UnknownError(status=429, retry_after="120")

    outcome = policy(cap=10.0).decide(error, 1, NOW)

    assert outcome.verdict is Verdict.RETRY
    assert outcome.retry_at == NOW + timedelta(seconds=120)


def test_decide_honours_retry_after_http_date() -> None:
    error = ServerError(status=503, retry_after="Sun, 01 Mar 2026 12:30:00 GMT")

    outcome = policy(cap=10.0).decide(error, 1, NOW)

    assert outcome.retry_at == datetime(2026, 3, 1, 12, 30, tzinfo=timezone.utc)


def test_decide_backoff_longer_than_retry_after_wins() -> None:
    retry = policy(base=1000.0, cap=1000.0, seed=1)
    expected = random.Random(1).uniform(0, 1000.0)
    assert expected > 1  # the seed gives a backoff beyond the header's second

    outcome = retry.decide(UnknownError(status=429, retry_after="1"), 1, NOW)

    assert outcome.retry_at == NOW + timedelta(seconds=expected)


def test_decide_retry_after_does_not_save_the_last_attempt() -> None:
    error = UnknownError(status=429, retry_after="5")

    assert policy(max_attempts=2).decide(error, 2, NOW).verdict is Verdict.GIVE_UP


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", NOW),
        ("30", NOW + timedelta(seconds=30)),
        (" 30 ", NOW + timedelta(seconds=30)),
        ("Sun, 01 Mar 2026 12:01:00 GMT", NOW + timedelta(minutes=1)),
        ("Sunday, 01-Mar-26 12:01:00 GMT", NOW + timedelta(minutes=1)),
        ("Sun Mar  1 12:01:00 2026", NOW + timedelta(minutes=1)),  # asctime: GMT
        ("Sun, 01 Mar 2026 11:00:00 GMT", NOW),  # in the past: due now
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits are not HTTP digits
        # Dates that exist in no calendar datetime can hold: unusable, never a crash.
        ("Mon, 01 Jan 99999999999999999999 00:00:00 GMT", None),
        ("Mon, 01 Jan 0001 00:00:00 +2359", NOW),  # a two-digit year: 2001
        ("Fri, 31 Dec 9999 23:59:59 -2359", None),
    ],
)
def test_parse_retry_after_forms(header: str | None, expected: datetime | None) -> None:
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize("header", ["999999999999", "9" * 5000, "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_parse_retry_after_far_future_is_capped(header: str) -> None:
    assert parse_retry_after(header, NOW) == NOW + MAX_RETRY_AFTER


@override_settings(
    BROCKMAN_RETRY_BASE_SECONDS=0.5, BROCKMAN_RETRY_CAP_SECONDS=7.0, BROCKMAN_MAX_ATTEMPTS=4
)
def test_from_settings_reads_settings() -> None:
    retry = RetryPolicy.from_settings()

    assert (retry.base, retry.cap, retry.max_attempts) == (0.5, 7.0, 4)


def test_from_settings_defaults() -> None:
    retry = RetryPolicy.from_settings()

    assert (retry.base, retry.cap, retry.max_attempts) == (5.0, 3600.0, 15)


DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Xyz", ""]
MONTHS = ["Jan", "Feb", "Mar", "Dec", "Foo", ""]
ZONES = ["GMT", "UTC", "Z", "+0000", "+2359", "-2359", "+9999", "EST", "", "+", "-"]
NUMBERS = st.integers(0, 99) | st.integers(-(10**30), 10**30)
HTTP_DATES = st.builds(
    "{}, {} {} {} {}:{}:{} {}".format,
    st.sampled_from(DAYS),
    NUMBERS,
    st.sampled_from(MONTHS),
    st.integers(0, 10_000) | st.integers(-(10**30), 10**30),
    NUMBERS,
    NUMBERS,
    NUMBERS,
    st.sampled_from(ZONES),
)
HEADERS = (
    st.none()
    | st.text()
    | st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255))
    | HTTP_DATES
    | st.from_regex(r"\A\s*-?[0-9]{1,40}(\.[0-9]*)?\s*\Z")
)
NOWS = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9990, 1, 1), timezones=st.just(timezone.utc)
)


@given(header=HEADERS, now=NOWS)
def test_parse_retry_after_never_raises_and_stays_within_a_day(
    header: str | None, now: datetime
) -> None:
    when = parse_retry_after(header, now)

    assert when is None or now <= when <= now + MAX_RETRY_AFTER


@given(header=HEADERS, now=NOWS.map(lambda now: now.replace(tzinfo=None)))
def test_parse_retry_after_with_naive_now_never_raises(header: str | None, now: datetime) -> None:
    # USE_TZ = False: Django's now() is naive local time.
    when = parse_retry_after(header, now)

    assert when is None or when.tzinfo is None


@given(seconds=st.integers(0, 86_400), now=NOWS)
def test_parse_retry_after_honours_seconds_within_a_day(seconds: int, now: datetime) -> None:
    assert parse_retry_after(str(seconds), now) == now + timedelta(seconds=seconds)


@given(seconds=st.integers(0, 86_400), now=NOWS.map(lambda now: now.replace(microsecond=0)))
def test_parse_retry_after_honours_http_dates_within_a_day(seconds: int, now: datetime) -> None:
    header = format_datetime(now + timedelta(seconds=seconds), usegmt=True)

    assert parse_retry_after(header, now) == now + timedelta(seconds=seconds)
