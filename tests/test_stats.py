"""The health figures: counts, the oldest undelivered, hourly counts, and the state."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from django_brockman import counters, stats
from django_brockman.models import Status, Trigger
from django_brockman.stats import State

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.timezone.utc)


def add(
    status: str,
    *,
    created: dt.datetime = NOW,
    updated: dt.datetime = NOW,
    due: dt.datetime | None = None,
    attempts: int = 0,
) -> None:
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=status, attempts=attempts,
        created_at=created, updated_at=updated, next_attempt_at=due or updated,
    )  # fmt: skip


def count(at: dt.datetime, **results: int | str) -> None:
    with transaction.atomic():
        counters.add("default", at, **results)  # type: ignore[arg-type]


def test_collect_on_an_empty_outbox_is_all_zero_and_healthy() -> None:
    health = stats.collect(NOW)

    assert health.counts == {"pending": 0, "sending": 0, "failed": 0}
    assert health.waiting_retry == 0
    assert health.oldest_pending_at is None
    assert health.oldest_pending_age is None
    assert health.last_sent_at is None
    assert health.latest_error is None
    assert health.failed_last_24h == 0
    assert [hour.sent for hour in health.per_hour] == [0] * 24
    assert health.assessment == (State.HEALTHY, [])


def test_collect_counts_unfinished_and_failed_of_all_time() -> None:
    old = NOW - dt.timedelta(days=30)
    for status, number in (("pending", 3), ("sending", 1), ("sent", 2), ("failed", 4)):
        for _ in range(number):
            add(status, updated=old, due=NOW + dt.timedelta(hours=1))
    add(Status.PENDING, attempts=2, due=NOW + dt.timedelta(minutes=1))

    health = stats.collect(NOW)

    assert health.counts == {"pending": 4, "sending": 1, "failed": 4}
    assert health.waiting_retry == 1


def test_collect_hourly_figures_come_from_the_counts_not_the_rows() -> None:
    # Rows alone are not counted: the flusher's write-back counts as it goes.
    add(Status.SENT)
    count(NOW, sent=5)
    count(NOW.replace(minute=0), sent=2, retried=3, error="HTTP 503")
    count(NOW - dt.timedelta(hours=3), failed=1, error="HTTP 400")
    count(NOW - dt.timedelta(hours=23), sent=7)  # 13:30 yesterday, the first hour
    count(NOW - dt.timedelta(hours=24), sent=100)  # too old

    health = stats.collect(NOW)

    hours = health.per_hour
    assert hours[0].start == dt.datetime(2026, 3, 3, 13, tzinfo=dt.timezone.utc)
    assert hours[-1].start == dt.datetime(2026, 3, 4, 12, tzinfo=dt.timezone.utc)
    assert {hour.start.hour: (hour.sent, hour.retried, hour.failed) for hour in hours if (
        hour.sent or hour.failures)} == {13: (7, 0, 0), 9: (0, 0, 1), 12: (7, 3, 0)}  # fmt: skip
    assert (health.sent_last_24h, health.retried_last_24h, health.failed_last_24h) == (14, 3, 1)


def test_collect_latest_error_is_the_newest_counted() -> None:
    count(NOW - dt.timedelta(hours=2), retried=1, error="older")
    count(NOW - dt.timedelta(minutes=5), retried=1, error="connection refused")
    count(NOW - dt.timedelta(minutes=1), sent=1)

    error = stats.collect(NOW).latest_error

    assert error is not None
    assert (error.text, error.at) == ("connection refused", NOW - dt.timedelta(minutes=5))


def test_collect_last_sent_is_the_newest_sent_row() -> None:
    add(Status.SENT, updated=NOW - dt.timedelta(hours=5))
    add(Status.SENT, updated=NOW - dt.timedelta(minutes=3))
    add(Status.FAILED, updated=NOW)

    assert stats.collect(NOW).last_sent_at == NOW - dt.timedelta(minutes=3)


def test_collect_oldest_pending_includes_sending_and_ignores_finished() -> None:
    add(Status.SENT, created=NOW - dt.timedelta(days=9))
    add(Status.FAILED, created=NOW - dt.timedelta(days=8))
    add(Status.SENDING, created=NOW - dt.timedelta(minutes=20), due=NOW + dt.timedelta(1))
    add(Status.PENDING, created=NOW - dt.timedelta(minutes=5))

    health = stats.collect(NOW)

    assert health.oldest_pending_at == NOW - dt.timedelta(minutes=20)
    assert health.oldest_pending_age == 1200.0


def test_state_failing_when_nothing_got_through_since_the_latest_error() -> None:
    # The receiver is down: every attempt of the last 10 minutes failed.
    add(Status.SENT, updated=NOW - dt.timedelta(minutes=10))
    for _ in range(3):
        add(Status.PENDING, attempts=1, due=NOW + dt.timedelta(seconds=30))
    count(NOW - dt.timedelta(seconds=20), retried=3, error="connection refused")

    state, reasons = stats.collect(NOW).assessment

    assert state is State.FAILING
    assert reasons == ["nothing delivered since the latest error", "3 triggers wait for a retry"]


def test_state_failing_when_every_recent_attempt_was_given_up_on() -> None:
    add(Status.SENT, updated=NOW - dt.timedelta(minutes=10))
    add(Status.FAILED, attempts=15)
    count(NOW - dt.timedelta(seconds=20), failed=1, error="gave up after 15 attempts")

    assert stats.collect(NOW).assessment == (
        State.FAILING,
        ["nothing delivered since the latest error", "1 trigger failed in the last hour"],
    )


def test_state_degraded_when_retries_wait_but_deliveries_get_through() -> None:
    add(Status.PENDING, attempts=1, due=NOW + dt.timedelta(seconds=30))
    count(NOW - dt.timedelta(minutes=2), retried=1, error="HTTP 503")
    add(Status.SENT, updated=NOW - dt.timedelta(minutes=1))

    assert stats.collect(NOW).assessment == (State.DEGRADED, ["1 trigger waits for a retry"])


def test_state_degraded_for_a_few_minutes_before_failing() -> None:
    add(Status.SENT, updated=NOW - dt.timedelta(minutes=2))
    add(Status.PENDING, attempts=1, due=NOW + dt.timedelta(seconds=30))
    count(NOW - dt.timedelta(minutes=1), retried=1, error="connection refused")

    assert stats.collect(NOW).state is State.DEGRADED
    assert stats.collect(NOW + dt.timedelta(minutes=3)).state is State.FAILING


def test_state_after_recovery_is_healthy_with_the_error_still_shown() -> None:
    count(NOW - dt.timedelta(hours=3), retried=40, error="connection refused")
    count(NOW - dt.timedelta(hours=2), sent=40)
    add(Status.SENT, updated=NOW - dt.timedelta(hours=2))

    health = stats.collect(NOW)

    assert health.assessment == (State.HEALTHY, [])
    assert health.latest_error is not None


def test_state_by_how_long_triggers_have_been_due() -> None:
    add(Status.PENDING, due=NOW - dt.timedelta(minutes=20))
    assert stats.collect(NOW).assessment == (
        State.DEGRADED,
        ["triggers have been due for 20 minutes"],
    )
    assert stats.collect(NOW + dt.timedelta(hours=2)).assessment == (
        State.FAILING,
        ["triggers have been due for 2 hours: is a flusher running?"],
    )


def test_state_degraded_after_failures_in_the_last_hour() -> None:
    count(NOW - dt.timedelta(minutes=40), failed=2, error="HTTP 400")
    add(Status.SENT, updated=NOW)

    assert stats.collect(NOW).assessment == (
        State.DEGRADED,
        ["2 triggers failed in the last hour"],
    )
    assert stats.collect(NOW + dt.timedelta(hours=2)).state is State.HEALTHY


def test_health_as_dict_is_json_ready() -> None:
    add(Status.PENDING, created=NOW - dt.timedelta(seconds=90))
    add(Status.SENT)
    count(NOW, sent=1, retried=2, error="timed out after 10 s")

    figures = stats.collect(NOW).as_dict()

    assert figures["state"] == "healthy"
    assert figures["counts"] == {"pending": 1, "sending": 0, "failed": 0}
    assert figures["oldest_pending_at"] == "2026-03-04T12:28:30+00:00"
    assert figures["oldest_pending_age_seconds"] == 90.0
    assert figures["last_sent_at"] == NOW.isoformat()
    assert figures["latest_error"] == "timed out after 10 s"
    assert figures["latest_error_at"] == NOW.isoformat()
    assert figures["sent_last_24h"] == 1
    assert figures["per_hour"][-1] == {
        "hour": "2026-03-04T12:00:00+00:00", "sent": 1, "retried": 2, "failed": 0,
    }  # fmt: skip
    assert len(figures["per_hour"]) == 24


def test_count_due_and_count_failed() -> None:
    add(Status.PENDING, due=NOW - dt.timedelta(seconds=1))
    add(Status.PENDING, due=NOW + dt.timedelta(days=999))
    add(Status.FAILED)

    assert stats.count_due() == 1
    assert stats.count_failed() == 1
