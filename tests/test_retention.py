"""Retention: old finished triggers deleted by the flusher in small batches, never others."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import InternalError, OperationalError, connection, transaction
from django.test import override_settings
from django.utils import timezone

from django_brockman import counters, engine, outbox, transitions
from django_brockman.backends.base import BaseBackend
from django_brockman.models import DeliveryCount, Status, Trigger
from django_brockman.retention import CATCH_UP, IDLE, KEEP_COUNTS, Retention
from tests.clock import FakeClock

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.timezone.utc)
AGES = {"ancient": dt.timedelta(days=3650), "recent": dt.timedelta(minutes=1)}


class Clock(FakeClock):
    """An injected clock that the test moves."""

    def move(self, delta: dt.timedelta) -> None:
        self.advance(delta.total_seconds())


def add(status: str, age: dt.timedelta, now: dt.datetime = NOW, **fields: object) -> Trigger:
    moment = now - age
    values: dict[str, object] = {
        "actor_id": "a", "action": "viewed", "obj": "page", "status": status,
        "created_at": moment, "updated_at": moment, "next_attempt_at": moment,
    }  # fmt: skip
    return Trigger.objects.create(**(values | fields))


def every_kind_of_row(now: dt.datetime) -> dict[str, Trigger]:
    """A row of each status and lease state, each ancient and recent."""
    rows = {}
    for age_name, age in AGES.items():
        for name, status, extra in (
            ("pending", Status.PENDING, {}),
            ("pending-retrying", Status.PENDING, {"attempts": 3, "last_error": "HTTP 503"}),
            ("pending-future", Status.PENDING, {"next_attempt_at": now + dt.timedelta(days=1)}),
            ("sending-leased", Status.SENDING, {
                "claim_token": uuid.uuid4(), "next_attempt_at": now + dt.timedelta(minutes=5)}),
            ("sending-expired", Status.SENDING, {"claim_token": uuid.uuid4()}),
            ("sent", Status.SENT, {"attempts": 1}),
            ("failed", Status.FAILED, {"attempts": 15}),
        ):  # fmt: skip
            rows[f"{name}-{age_name}"] = add(status, age, now, **extra)
    return rows


def remaining() -> set[int]:
    return set(Trigger.objects.values_list("pk", flat=True))


def test_tidy_deletes_finished_rows_past_their_age_and_nothing_else() -> None:
    rows = every_kind_of_row(NOW)
    retention = Retention(dt.timedelta(days=7), dt.timedelta(days=30), clock=Clock(NOW))

    assert retention.tidy() == 2

    gone = {name for name, row in rows.items() if row.pk not in remaining()}
    assert gone == {"sent-ancient", "failed-ancient"}


def test_tidy_keeps_what_a_setting_of_none_keeps() -> None:
    rows = every_kind_of_row(NOW)

    assert Retention(None, dt.timedelta(days=30), clock=Clock(NOW)).tidy() == 1

    assert rows["sent-ancient"].pk in remaining()
    assert rows["failed-ancient"].pk not in remaining()


def test_tidy_never_deletes_pending_or_in_flight_rows_however_old() -> None:
    rows = every_kind_of_row(NOW)
    unfinished = {
        row.pk for row in rows.values() if row.status in (Status.PENDING, Status.SENDING)
    }
    # A clock a century ahead: every row is past any age; only the status protects.
    retention = Retention(dt.timedelta(0), dt.timedelta(0), batch_size=1, clock=Clock(NOW))
    clock = Clock(NOW + dt.timedelta(days=36500))
    retention.clock = clock

    for _ in range(20):
        retention.tidy()
        clock.move(CATCH_UP)

    assert remaining() == unfinished


def test_tidy_deletes_a_batch_at_a_time_and_waits_when_caught_up() -> None:
    for _ in range(5):
        add(Status.SENT, AGES["ancient"])
    clock = Clock(NOW)
    retention = Retention(dt.timedelta(days=1), None, batch_size=2, clock=clock)

    assert retention.tidy() == 2
    assert retention.tidy() == 0  # a batch came back full: the next look is CATCH_UP away
    clock.move(CATCH_UP)
    assert retention.tidy() == 2
    clock.move(CATCH_UP)
    assert retention.tidy() == 1  # caught up: the next look is IDLE away
    add(Status.SENT, AGES["ancient"])
    clock.move(IDLE - dt.timedelta(seconds=1))
    assert retention.tidy() == 0
    clock.move(dt.timedelta(seconds=1))
    assert retention.tidy() == 1


def test_tidy_forgets_old_delivery_counts() -> None:
    with transaction.atomic():
        counters.add("default", NOW - KEEP_COUNTS - dt.timedelta(hours=1), sent=1)
        counters.add("default", NOW - dt.timedelta(hours=1), sent=2)

    Retention(None, None, clock=Clock(NOW)).tidy()

    assert list(DeliveryCount.objects.values_list("sent", flat=True)) == [2]


def test_tidy_that_meets_a_database_error_logs_it_and_tries_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    add(Status.SENT, AGES["ancient"])
    clock = Clock(NOW)
    retention = Retention(dt.timedelta(days=1), None, clock=clock)

    def failing(execute: Any, sql: str, *args: Any) -> Any:
        if sql.startswith("DELETE"):
            raise InternalError("could not serialize access")
        return execute(sql, *args)

    with connection.execute_wrapper(failing):
        assert retention.tidy() == 0
    assert "Could not delete old triggers" in caplog.text
    assert Trigger.objects.count() == 1
    clock.move(IDLE)
    assert retention.tidy() == 1


def test_tidy_leaves_an_outage_to_the_flushers_database_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A lost connection or a locked SQLite file is an outage: the flusher runs tidy()
    # through its DatabaseRetry, which waits it out and logs it once, not each time.
    add(Status.SENT, AGES["ancient"])
    retention = Retention(dt.timedelta(days=1), None, clock=Clock(NOW))

    def locked(execute: Any, sql: str, *args: Any) -> Any:
        if sql.startswith("DELETE"):
            raise OperationalError("database is locked")
        return execute(sql, *args)

    with connection.execute_wrapper(locked), pytest.raises(OperationalError):
        retention.tidy()
    assert "Could not delete old triggers" not in caplog.text


class SendAll(BaseBackend):
    def send(self, trigger: Trigger) -> None:
        pass


@override_settings(BROCKMAN_KEEP_SENT_DAYS=7, BROCKMAN_KEEP_FAILED_DAYS=30)
def test_flush_applies_retention_from_the_settings() -> None:
    now = timezone.now()
    old_sent = add(Status.SENT, dt.timedelta(days=8), now)
    young_sent = add(Status.SENT, dt.timedelta(days=6), now)
    old_failed = add(Status.FAILED, dt.timedelta(days=31), now)
    young_failed = add(Status.FAILED, dt.timedelta(days=29), now)
    old_pending = add(Status.PENDING, dt.timedelta(days=3650), now)

    result = engine.flush(backend=f"{__name__}.SendAll", concurrency=1)

    assert result.sent == 1
    assert remaining() == {young_sent.pk, young_failed.pk, old_pending.pk}
    assert {old_sent.pk, old_failed.pk}.isdisjoint(remaining())


@override_settings(BROCKMAN_KEEP_SENT_DAYS=None, BROCKMAN_KEEP_FAILED_DAYS=None)
def test_flush_with_retention_off_deletes_nothing() -> None:
    add(Status.SENT, AGES["ancient"], timezone.now())
    add(Status.FAILED, AGES["ancient"], timezone.now())

    engine.flush(backend=f"{__name__}.SendAll", concurrency=1)

    assert Trigger.objects.count() == 2


def in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_retention_racing_claims_and_requeues_deletes_no_unfinished_row() -> None:
    """Retention with every row past its age, against claims that churn rows between
    pending and sending and requeues that turn failed rows pending: every row that is
    unfinished at any moment must survive."""
    if connection.vendor == "sqlite":
        pytest.skip("SQLite runs one writer at a time: there is no race to provoke")
    now = timezone.now()
    ancient = dt.timedelta(days=3650)
    unfinished = {add(Status.PENDING, ancient, now).pk for _ in range(60)}
    unfinished |= {
        add(Status.SENDING, ancient, now, claim_token=uuid.uuid4()).pk for _ in range(20)
    }
    failed = [add(Status.FAILED, ancient, now).pk for _ in range(300)]
    for _ in range(200):
        add(Status.SENT, ancient, now)
    requeued: set[int] = set()
    stop = threading.Event()
    errors: list[BaseException] = []

    def tidy() -> None:
        clock = Clock(now + dt.timedelta(days=36500))
        retention = Retention(dt.timedelta(0), dt.timedelta(0), batch_size=7, clock=clock)
        while not stop.is_set():
            retention.tidy()
            clock.move(CATCH_UP)

    def churn() -> None:
        while not stop.is_set():
            claim = outbox.claim_batch(15, 300)
            released = transitions.released(timezone.now())
            transitions.write_back("default", [(t, released) for t in claim.triggers])

    def requeue() -> None:
        # From the oldest up, as retention deletes: the two race for the same rows.
        for pk in failed:
            if transitions.retry_now(Trigger.objects.filter(pk=pk)).changed:
                requeued.add(pk)

    threads = [in_thread(tidy, errors), in_thread(churn, errors), in_thread(churn, errors)]
    try:
        requeue()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)

    assert errors == []
    left = remaining()
    assert unfinished <= left
    assert requeued <= left
    assert requeued, "no requeue won a race: the test proved nothing"
    assert len(requeued) < len(failed), "retention deleted no failed row: no race happened"


@override_settings(BROCKMAN_KEEP_SENT_DAYS=7, BROCKMAN_KEEP_FAILED_DAYS=None)
def test_flush_ages_rows_by_its_injected_clock() -> None:
    now = timezone.now()
    sent_days_ago = add(Status.SENT, dt.timedelta(days=3), now)

    engine.flush(backend=f"{__name__}.SendAll", concurrency=1, clock=FakeClock(now))
    assert sent_days_ago.pk in remaining()

    # Five days on by the run's clock, the row is eight days old: past its seven.
    engine.flush(
        backend=f"{__name__}.SendAll",
        concurrency=1,
        clock=FakeClock(now + dt.timedelta(days=5)),
    )
    assert sent_days_ago.pk not in remaining()
