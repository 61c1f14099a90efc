"""The outbox: claims under a lease, write-back guarded by the claim token, requeue."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_brockman import outbox, transitions
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


def make_triggers(count: int, **fields: object) -> list[Trigger]:
    return [
        Trigger.objects.create(actor_id=f"actor-{n}", action="viewed", obj="page", **fields)
        for n in range(count)
    ]


def expire(claim: outbox.Claim) -> None:
    """Let the claim's lease run out, as if its flusher had been killed."""
    Trigger.objects.filter(claim_token=claim.token).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def write(claim: outbox.Claim, ids: Collection[int], change: transitions.Change) -> int:
    """Write *change* back for the rows *ids* of *claim*; how many rows it wrote."""
    results = [(copy.copy(t), change) for t in claim.triggers if t.pk in ids]
    tally = transitions.write_back(claim.using, results)
    return tally.sent + tally.retried + tally.failed + tally.released


def mark_sent(claim: outbox.Claim, ids: Collection[int]) -> int:
    return write(claim, ids, transitions.sent(timezone.now()))


def mark_retry(claim: outbox.Claim, pk: int, retry_at: datetime, error: str) -> int:
    return write(claim, [pk], transitions.retried(retry_at, error, timezone.now()))


def mark_failed(claim: outbox.Claim, pk: int, error: str) -> int:
    return write(claim, [pk], transitions.failed(error, timezone.now()))


def release(claim: outbox.Claim, ids: Collection[int]) -> int:
    return write(claim, ids, transitions.released(timezone.now()))


def test_claim_batch_takes_due_rows_oldest_first() -> None:
    now = timezone.now()
    late, early, middle = make_triggers(3)
    for trigger, minutes in ((late, 1), (early, 3), (middle, 2)):
        Trigger.objects.filter(pk=trigger.pk).update(
            next_attempt_at=now - timedelta(minutes=minutes)
        )

    claim = outbox.claim_batch(10, 300)

    assert [trigger.pk for trigger in claim.triggers] == [early.pk, middle.pk, late.pk]


def test_claim_batch_marks_rows_sending_with_token_and_lease() -> None:
    make_triggers(2)
    before = timezone.now()

    claim = outbox.claim_batch(10, 300)

    rows = list(Trigger.objects.all())
    assert {row.status for row in rows} == {Status.SENDING}
    assert {row.claim_token for row in rows} == {claim.token}
    lease_ends = rows[0].next_attempt_at
    assert before + timedelta(seconds=300) <= lease_ends <= timezone.now() + timedelta(seconds=300)
    assert all(row.attempts == 0 for row in rows)
    # The in-memory rows match what was written.
    assert {(t.status, t.claim_token, t.next_attempt_at) for t in claim.triggers} == {
        (Status.SENDING, claim.token, lease_ends)
    }


def test_claim_batch_respects_size() -> None:
    make_triggers(5)

    first = outbox.claim_batch(3, 300)
    second = outbox.claim_batch(3, 300)
    third = outbox.claim_batch(3, 300)

    assert (len(first.triggers), len(second.triggers), len(third.triggers)) == (3, 2, 0)
    assert not {t.pk for t in first.triggers} & {t.pk for t in second.triggers}


def test_claim_batch_skips_rows_not_due() -> None:
    (future,) = make_triggers(1, next_attempt_at=timezone.now() + timedelta(minutes=5))
    make_triggers(1, status=Status.SENT)
    make_triggers(1, status=Status.FAILED)

    assert outbox.claim_batch(10, 300).triggers == []
    assert Trigger.objects.get(pk=future.pk).status == Status.PENDING


def test_claim_batch_leased_row_is_not_claimable_while_lease_lasts() -> None:
    make_triggers(1)
    outbox.claim_batch(10, 300)

    assert outbox.claim_batch(10, 300).triggers == []


def test_claim_batch_expired_lease_makes_row_claimable_again() -> None:
    (trigger,) = make_triggers(1)
    first = outbox.claim_batch(10, 300)
    expire(first)

    second = outbox.claim_batch(10, 300)

    assert [t.pk for t in second.triggers] == [trigger.pk]
    assert second.token != first.token
    row = Trigger.objects.get()
    assert (row.status, row.claim_token, row.attempts) == (Status.SENDING, second.token, 0)


def test_claim_batch_expired_lease_keeps_uuid() -> None:
    (trigger,) = make_triggers(1)
    expire(outbox.claim_batch(10, 300))

    assert outbox.claim_batch(10, 300).triggers[0].uuid == trigger.uuid


def test_mark_sent_records_success() -> None:
    make_triggers(1, last_error="HTTP 503", attempts=2)
    claim = outbox.claim_batch(10, 300)

    assert mark_sent(claim, [t.pk for t in claim.triggers]) == 1

    row = Trigger.objects.get()
    assert (row.status, row.attempts, row.claim_token, row.last_error) == (
        Status.SENT,
        3,
        None,
        "",
    )
    assert row.sent_at is not None


def test_mark_retry_records_attempt_and_due_time() -> None:
    make_triggers(1)
    claim = outbox.claim_batch(10, 300)
    retry_at = timezone.now() + timedelta(minutes=7)

    assert mark_retry(claim, claim.triggers[0].pk, retry_at, "HTTP 503") == 1

    row = Trigger.objects.get()
    assert (row.status, row.attempts, row.next_attempt_at, row.last_error) == (
        Status.PENDING,
        1,
        retry_at,
        "HTTP 503",
    )
    assert row.claim_token is None


def test_mark_failed_keeps_reason() -> None:
    make_triggers(1)
    claim = outbox.claim_batch(10, 300)

    assert mark_failed(claim, claim.triggers[0].pk, "HTTP 400 | body: bad") == 1

    row = Trigger.objects.get()
    assert (row.status, row.attempts, row.last_error, row.claim_token) == (
        Status.FAILED,
        1,
        "HTTP 400 | body: bad",
        None,
    )


def test_release_spends_no_attempt_and_is_due_at_once() -> None:
    make_triggers(2, attempts=4)
    claim = outbox.claim_batch(10, 300)

    assert release(claim, [t.pk for t in claim.triggers]) == 2

    rows = list(Trigger.objects.all())
    assert {(row.status, row.attempts, row.claim_token) for row in rows} == {
        (Status.PENDING, 4, None)
    }
    assert all(row.next_attempt_at <= timezone.now() for row in rows)
    assert len(outbox.claim_batch(10, 300).triggers) == 2


def test_release_nothing_is_a_no_op() -> None:
    make_triggers(1)

    assert release(outbox.claim_batch(10, 300), []) == 0


@pytest.mark.parametrize(
    "write",
    [
        lambda claim, pk: mark_sent(claim, [pk]),
        lambda claim, pk: mark_retry(claim, pk, timezone.now(), "HTTP 500"),
        lambda claim, pk: mark_failed(claim, pk, "HTTP 400"),
        lambda claim, pk: release(claim, [pk]),
    ],
    ids=["sent", "retry", "failed", "release"],
)
def test_write_back_late_writer_cannot_overwrite_newer_claim(
    write: Callable[[outbox.Claim, int], int],
) -> None:
    (trigger,) = make_triggers(1)
    late = outbox.claim_batch(10, 300)
    expire(late)
    current = outbox.claim_batch(10, 300)

    assert write(late, trigger.pk) == 0

    row = Trigger.objects.get()
    assert (row.status, row.claim_token, row.attempts, row.last_error) == (
        Status.SENDING,
        current.token,
        0,
        "",
    )
    assert mark_sent(current, [trigger.pk]) == 1


def test_write_back_late_writer_cannot_undo_newer_result() -> None:
    (trigger,) = make_triggers(1)
    late = outbox.claim_batch(10, 300)
    expire(late)
    current = outbox.claim_batch(10, 300)
    mark_failed(current, trigger.pk, "HTTP 400")

    assert mark_sent(late, [trigger.pk]) == 0
    assert Trigger.objects.get().status == Status.FAILED


def test_write_back_expired_but_unclaimed_lease_still_writes() -> None:
    # Nobody took the row over, so the result of the one flusher that sent it counts.
    make_triggers(1)
    claim = outbox.claim_batch(10, 300)
    expire(claim)

    assert mark_sent(claim, [claim.triggers[0].pk]) == 1
    assert Trigger.objects.get().status == Status.SENT


def test_write_back_same_claim_cannot_write_twice() -> None:
    make_triggers(1)
    claim = outbox.claim_batch(10, 300)
    pk = claim.triggers[0].pk
    mark_retry(claim, pk, timezone.now(), "HTTP 500")

    assert mark_sent(claim, [pk]) == 0
    assert Trigger.objects.get().status == Status.PENDING


def test_requeue_failed_resets_attempts_and_due_time() -> None:
    (failed,) = make_triggers(
        1,
        status=Status.FAILED,
        attempts=15,
        last_error="gave up",
        next_attempt_at=timezone.now() + timedelta(days=1),
    )
    (sent,) = make_triggers(1, status=Status.SENT, attempts=1)
    (waiting,) = make_triggers(1, attempts=3, next_attempt_at=timezone.now() + timedelta(days=1))

    assert transitions.requeue_failed() == 1

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.PENDING, 0)
    assert failed.next_attempt_at <= timezone.now()
    assert failed.last_error == "gave up"  # kept until the next attempt says otherwise
    assert Trigger.objects.get(pk=sent.pk).status == Status.SENT
    assert Trigger.objects.get(pk=waiting.pk).attempts == 3
    assert [t.pk for t in outbox.claim_batch(10, 300).triggers] == [failed.pk]


def test_count_due_counts_pending_due_and_expired_leases() -> None:
    make_triggers(2)
    make_triggers(1, next_attempt_at=timezone.now() + timedelta(minutes=1))
    make_triggers(1, status=Status.FAILED)
    expire(outbox.claim_batch(1, 300))
    outbox.claim_batch(1, 300)

    assert outbox.count_due() == 1
    assert outbox.count_failed() == 1


@pytest.mark.django_db(transaction=True)
def test_claim_batch_skips_rows_locked_by_another_claim() -> None:
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("this database has no SKIP LOCKED; claims use a conditional UPDATE")
    oldest, *others = make_triggers(3)
    locked, release_lock = threading.Event(), threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                list(Trigger.objects.select_for_update().filter(pk=oldest.pk))
                locked.set()
                release_lock.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(30)
        claim = outbox.claim_batch(10, 300)
    finally:
        release_lock.set()
        holder.join()

    assert [t.pk for t in claim.triggers] == [t.pk for t in others]
    assert Trigger.objects.get(pk=oldest.pk).status == Status.PENDING
