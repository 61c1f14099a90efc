"""Per-hour delivery counts: kept by the write-back in its own transaction, exactly."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from django_brockman import counters, engine, outbox, record_triggers, transitions
from django_brockman.backends.base import BaseBackend
from django_brockman.exceptions import BadRequest, ServerError
from django_brockman.models import DeliveryCount, Status, Trigger
from tests.clock import FakeClock

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 4, 12, 30, tzinfo=dt.timezone.utc)


class MixedBackend(BaseBackend):
    """Sends "ok", answers 503 to "later" and 400 to "bad"."""

    def send(self, trigger: Trigger) -> None:
        if trigger.obj == "later":
            raise ServerError(status=503, body="busy")
        if trigger.obj == "bad":
            raise BadRequest(status=400, body="no")


def record(count: int, obj: str = "ok") -> None:
    record_triggers(None, [{"action": "viewed", "obj": obj, "actor_id": "a1"}] * count)


def totals() -> dict[str, int | None]:
    return DeliveryCount.objects.aggregate(
        sent=Sum("sent"), retried=Sum("retried"), failed=Sum("failed")
    )


def test_add_sums_into_the_hour_and_shard_of_its_key() -> None:
    key = uuid.uuid4()
    with transaction.atomic():
        counters.add("default", NOW, sent=3, key=key)
        counters.add("default", NOW.replace(minute=59), sent=2, retried=1, key=key)
        counters.add("default", NOW + dt.timedelta(hours=1), failed=1, error="x", key=key)

    rows = list(DeliveryCount.objects.order_by("hour").values_list("hour", "shard", "sent"))
    assert rows == [
        (NOW.replace(minute=0), key.int % counters.SHARDS, 5),
        (NOW.replace(hour=13, minute=0), key.int % counters.SHARDS, 0),
    ]


def test_add_of_nothing_writes_nothing() -> None:
    with transaction.atomic():
        counters.add("default", NOW, sent=0, retried=0, failed=0, error="ignored")

    assert not DeliveryCount.objects.exists()


def test_add_outside_a_transaction_is_refused(transactional_db: None) -> None:
    with pytest.raises(RuntimeError, match="write-back's transaction"):
        counters.add("default", NOW, sent=1)


def test_add_keeps_the_latest_error_shortened() -> None:
    with transaction.atomic():
        counters.add("default", NOW, retried=1, error="e" * 5000, key=uuid.UUID(int=1))

    error = counters.latest_error("default")
    assert error is not None
    assert (len(error.text), error.at) == (counters.ERROR_CHARS, NOW)


def sent_now(claim: outbox.Claim) -> list[transitions.Result]:
    now = timezone.now()
    return [(trigger, transitions.sent(now)) for trigger in claim.triggers]


def test_a_rolled_back_write_back_leaves_no_count() -> None:
    record(3)
    claim = outbox.claim_batch(10, 300)

    def crash_before_commit() -> None:
        with transaction.atomic():
            transitions.write_back("default", sent_now(claim))
            raise ZeroDivisionError  # the crash between the write and its commit

    with pytest.raises(ZeroDivisionError):
        crash_before_commit()

    assert totals() == {"sent": None, "retried": None, "failed": None}
    assert Trigger.objects.filter(status=Status.SENDING).count() == 3


def test_write_back_counts_only_the_rows_it_changed() -> None:
    record(4)
    claim = outbox.claim_batch(10, 300)
    ids = [t.pk for t in claim.triggers]
    # Two rows passed to another claim (their lease ran out): not ours to count.
    Trigger.objects.filter(pk__in=ids[:2]).update(claim_token=uuid.uuid4())

    tally = transitions.write_back("default", sent_now(claim))

    assert (tally.sent, tally.lost) == (2, 2)
    assert totals() == {"sent": 2, "retried": 0, "failed": 0}


def test_flush_counts_each_outcome_once() -> None:
    record(5)
    record(3, obj="later")
    record(2, obj="bad")

    result = engine.flush(backend=f"{__name__}.MixedBackend", concurrency=3, batch_size=4)

    assert (result.sent, result.retried, result.failed) == (5, 3, 2)
    assert totals() == {"sent": 5, "retried": 3, "failed": 2}
    error = counters.latest_error(None)
    assert error is not None
    assert "HTTP" in error.text


def test_forget_before_deletes_old_hours_only() -> None:
    with transaction.atomic():
        counters.add("default", NOW - dt.timedelta(days=9), sent=1)
        counters.add("default", NOW, sent=1)

    assert counters.forget_before(NOW - dt.timedelta(days=8), "default") == 1
    assert list(DeliveryCount.objects.values_list("sent", flat=True)) == [1]


@pytest.mark.django_db(transaction=True)
def test_two_write_backs_creating_the_same_row_both_count() -> None:
    """The second write-back's INSERT meets the first's uncommitted row: on PostgreSQL
    and MariaDB it waits, fails on the unique constraint once the first commits, and adds
    to that row instead; on SQLite it waits for the first to commit before its UPDATE."""
    key = uuid.uuid4()
    first_wrote, second_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                counters.add("default", NOW, sent=2, key=key)
                first_wrote.set()
                second_started.wait(10)
                time.sleep(0.5)  # the second is now waiting on this row
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_wrote.wait(10)
        second_started.set()
        with transaction.atomic():
            counters.add("default", NOW, sent=3, retried=1, key=key)
    finally:
        thread.join(30)

    assert errors == []
    assert list(DeliveryCount.objects.values_list("sent", "retried")) == [(5, 1)]


def test_flush_counts_in_the_hour_of_its_clock() -> None:
    record(2)
    record(1, obj="later")

    # A day ahead of the rows' due times (the run claims by its clock, too).
    clock = FakeClock(timezone.now() + dt.timedelta(days=1))

    engine.flush(backend=f"{__name__}.MixedBackend", concurrency=1, clock=clock)

    hours = DeliveryCount.objects.values_list("hour", "sent", "retried")
    assert list(hours) == [(counters.hour_of(clock.now()), 2, 1)]
