"""The health figures: counts, oldest undelivered trigger, failures and sends per hour."""

from __future__ import annotations

import datetime as dt

import pytest

from django_brockman import stats
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.timezone.utc)


def add(status: str, *, created: dt.datetime = NOW, updated: dt.datetime = NOW) -> None:
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=status,
        created_at=created, updated_at=updated, next_attempt_at=updated,
    )  # fmt: skip


def test_collect_on_an_empty_outbox_is_all_zero() -> None:
    health = stats.collect(NOW)

    assert health.counts == {"pending": 0, "sending": 0, "failed": 0}
    assert health.oldest_pending_at is None
    assert health.oldest_pending_age is None
    assert health.failed_last_24h == 0
    assert [hour.count for hour in health.sent_per_hour] == [0] * 24


def test_collect_counts_unfinished_and_failed_of_all_time_and_recent_sends() -> None:
    old = NOW - dt.timedelta(days=30)
    for status, number in (("pending", 3), ("sending", 1), ("sent", 2), ("failed", 4)):
        for _ in range(number):
            add(status, updated=old)
    add(Status.SENT)

    health = stats.collect(NOW)

    assert health.counts == {"pending": 3, "sending": 1, "failed": 4}
    assert health.sent_last_24h == 1


def test_collect_oldest_pending_includes_sending_and_ignores_finished() -> None:
    add(Status.SENT, created=NOW - dt.timedelta(days=9))
    add(Status.FAILED, created=NOW - dt.timedelta(days=8))
    add(Status.SENDING, created=NOW - dt.timedelta(minutes=20))
    add(Status.PENDING, created=NOW - dt.timedelta(minutes=5))

    health = stats.collect(NOW)

    assert health.oldest_pending_at == NOW - dt.timedelta(minutes=20)
    assert health.oldest_pending_age == 1200.0


def test_collect_failed_last_24h_excludes_older_failures() -> None:
    add(Status.FAILED, updated=NOW - dt.timedelta(hours=23, minutes=59))
    add(Status.FAILED, updated=NOW - dt.timedelta(hours=24, minutes=1))
    add(Status.PENDING)

    assert stats.collect(NOW).failed_last_24h == 1


def test_collect_sent_per_hour_buckets_the_last_24_hours_by_utc_hour() -> None:
    add(Status.SENT, updated=NOW)  # 12:30, the current hour
    add(Status.SENT, updated=NOW.replace(minute=0))  # 12:00, the same hour
    add(Status.SENT, updated=NOW - dt.timedelta(hours=3))  # 09:30
    add(Status.SENT, updated=NOW - dt.timedelta(hours=23))  # 13:30 yesterday, the first hour
    add(Status.SENT, updated=NOW - dt.timedelta(hours=24))  # 12:30 yesterday, too old
    add(Status.FAILED, updated=NOW)

    hours = stats.collect(NOW).sent_per_hour

    assert hours[0].start == dt.datetime(2026, 3, 3, 13, tzinfo=dt.timezone.utc)
    assert hours[-1].start == dt.datetime(2026, 3, 4, 12, tzinfo=dt.timezone.utc)
    assert {hour.start.hour: hour.count for hour in hours if hour.count} == {13: 1, 9: 1, 12: 2}
    assert stats.collect(NOW).sent_last_24h == 4


def test_health_as_dict_is_json_ready() -> None:
    add(Status.PENDING, created=NOW - dt.timedelta(seconds=90))
    add(Status.SENT)

    figures = stats.collect(NOW).as_dict()

    assert figures["counts"] == {"pending": 1, "sending": 0, "failed": 0}
    assert figures["oldest_pending_at"] == "2026-03-04T12:28:30+00:00"
    assert figures["oldest_pending_age_seconds"] == 90.0
    assert figures["sent_last_24h"] == 1
    assert figures["sent_per_hour"][-1] == {"hour": "2026-03-04T12:00:00+00:00", "count": 1}
    assert len(figures["sent_per_hour"]) == 24
