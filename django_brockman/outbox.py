"""Claiming due triggers under a lease, and writing delivery results back."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Case, DateTimeField, F, Field, Q, TextField, Value, When
from django.utils import timezone

from django_brockman.models import Status, Trigger, TriggerQuerySet


@dataclass
class Claim:
    """A batch of triggers this flusher holds until their lease ends."""

    token: uuid.UUID
    using: str
    triggers: list[Trigger] = field(default_factory=list)


def db_alias(using: str | None = None) -> str:
    return using or router.db_for_write(Trigger)


def refuse_open_transaction(using: str | None = None) -> None:
    """Raise RuntimeError if the caller is inside a transaction on the outbox's database.

    Claims must commit before any HTTP is sent, and results be written as they come:
    inside the caller's transaction, claimed rows would stay locked across the requests,
    and a rollback would make triggers already sent pending again. A durable atomic
    block tells (and, unlike ``in_atomic_block``, lets a test case's own transaction by).
    """
    try:
        # No savepoint: the block runs no statement, so it costs no round trip.
        with transaction.atomic(using=db_alias(using), durable=True, savepoint=False):
            pass
    except RuntimeError as exc:
        raise RuntimeError(
            "Triggers cannot be flushed inside a database transaction: it would be held "
            "open across the HTTP requests to FocusLab. Flush after the transaction "
            "commits (transaction.on_commit), or from cron or a worker."
        ) from exc


def claim_batch(size: int, lease_seconds: float, using: str | None = None) -> Claim:
    """Claim up to *size* due triggers, oldest due first, in one short transaction.

    The rows are marked ``sending`` with a fresh claim token and a lease, and the
    transaction commits before any HTTP is sent. Two flushers never hold the same row:
    where the database has SKIP LOCKED, rows locked by one claim are skipped by the
    other; elsewhere (SQLite) the UPDATE re-checks that each row is still due, so the
    later of two racing flushers takes only the rows the earlier one left.
    """
    alias = db_alias(using)
    now = timezone.now()
    token = uuid.uuid4()
    lease_ends = now + timedelta(seconds=lease_seconds)
    due = Trigger.objects.using(alias).due(now)
    connection = connections[alias]
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic(using=alias):
            if connection.vendor == "mysql":
                rows = _lock_by_key(due, size)
            else:
                rows = list(due.select_for_update(skip_locked=True)[:size])
            # By key alone: the rows are locked, and were due under the lock.
            locked = Trigger.objects.using(alias).filter(pk__in=[row.pk for row in rows])
            _mark_claimed(locked, token, lease_ends, now)
    else:
        rows = _claim_unlocked(due, size, token, lease_ends, now)
    for row in rows:
        row.status, row.claim_token = Status.SENDING, token
        row.next_attempt_at, row.updated_at = lease_ends, now
    return Claim(token=token, using=alias, triggers=rows)


# How many windows of candidates a MariaDB or MySQL claim reads past rows that other
# open claims hold: one per concurrent flusher ahead of it is enough.
CLAIM_WINDOWS = 16


def _lock_by_key(due: TriggerQuerySet, size: int) -> list[Trigger]:
    """Lock up to *size* due rows, oldest due first, on MariaDB and MySQL.

    There, ``SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED`` sorts the due rows
    after reading them, and InnoDB locks every row it reads, not just the n it returns:
    one open claim would hide the whole backlog from every other flusher. So the
    candidates are read without locks (a plain read takes none), then locked by primary
    key, which locks just them; rows another claim holds are skipped, and the next
    window of candidates is read past them. The locking read sees each row's latest
    committed version, so a row claimed meanwhile is no longer due and is left out.
    """
    taken: list[Trigger] = []
    window = due
    for _ in range(CLAIM_WINDOWS):
        wanted = size - len(taken)
        candidates = list(window.values_list("pk", "next_attempt_at")[:wanted])
        if not candidates:
            break
        ids = [pk for pk, _ in candidates]
        locked = {row.pk: row for row in lock_by_key(due, ids)}
        taken += [locked[pk] for pk in ids if pk in locked]
        if len(taken) >= size or len(candidates) < wanted:
            break
        last_pk, last_due = candidates[-1]
        window = due.filter(
            Q(next_attempt_at__gt=last_due) | Q(next_attempt_at=last_due, pk__gt=last_pk)
        )
    return taken


def lock_by_key(due: TriggerQuerySet, ids: Collection[int]) -> TriggerQuerySet:
    """The rows among *ids* still due, locked, skipping rows another claim holds.

    Unsorted, so that the database reads the rows by primary key and sorts nothing.
    """
    return due.filter(pk__in=ids).order_by().select_for_update(skip_locked=True)


# How often a flusher without SKIP LOCKED tries again after others took every row it
# picked. Each lost race means another flusher claimed rows, so the queue moved on.
CLAIM_RACES = 10


def _claim_unlocked(
    due: TriggerQuerySet, size: int, token: uuid.UUID, lease_ends: datetime, now: datetime
) -> list[Trigger]:
    """Claim with a conditional UPDATE: each UPDATE statement is atomic, and it takes only
    rows that are still due, so rows another flusher claimed meanwhile are left to it."""
    for _ in range(CLAIM_RACES):
        ids = list(due.values_list("pk", flat=True)[:size])
        if not ids:
            return []
        if _mark_claimed(due.filter(pk__in=ids), token, lease_ends, now):
            claimed = Trigger.objects.using(due.db).filter(pk__in=ids, claim_token=token)
            order = {pk: position for position, pk in enumerate(ids)}  # oldest due first
            return sorted(claimed, key=lambda row: order[row.pk])
    return []


def _mark_claimed(
    rows: TriggerQuerySet, token: uuid.UUID, lease_ends: datetime, now: datetime
) -> int:
    return rows.update(
        status=Status.SENDING, claim_token=token, next_attempt_at=lease_ends, updated_at=now
    )


def _held(claim: Claim, ids: Collection[int]) -> TriggerQuerySet:
    """The rows among *ids* that this claim still holds.

    Every write-back goes through here: a flusher whose lease expired and whose rows
    were claimed again cannot overwrite the newer claim's result.
    """
    return Trigger.objects.using(claim.using).filter(
        pk__in=ids, claim_token=claim.token, status=Status.SENDING
    )


def mark_sent(claim: Claim, ids: Collection[int], now: datetime | None = None) -> int:
    now = now or timezone.now()
    return _held(claim, ids).update(
        status=Status.SENT,
        sent_at=now,
        updated_at=now,
        attempts=F("attempts") + 1,
        claim_token=None,
        last_error="",
    )


def sent_among(claim: Claim, ids: Collection[int], sent_at: datetime) -> set[int]:
    """The rows among *ids* that mark_sent(claim, ids, sent_at) wrote."""
    return set(
        Trigger.objects.using(claim.using)
        .filter(pk__in=ids, status=Status.SENT, sent_at=sent_at)
        .values_list("pk", flat=True)
    )


def mark_retry(claim: Claim, pk: int, retry_at: datetime, error: str) -> int:
    return mark_retries(claim, {pk: (retry_at, error)})


def mark_retries(claim: Claim, retries: Mapping[int, tuple[datetime, str]]) -> int:
    """Make rows pending again, each due at its own time with its own error, in one
    UPDATE. *retries* maps a row's pk to its (retry_at, error)."""
    if not retries:
        return 0
    return _held(claim, retries.keys()).update(
        status=Status.PENDING,
        next_attempt_at=_per_row(retries, 0, DateTimeField()),
        updated_at=timezone.now(),
        attempts=F("attempts") + 1,
        claim_token=None,
        last_error=_per_row(retries, 1, TextField()),
    )


def _per_row(values: Mapping[int, tuple[Any, ...]], index: int, output: Field[Any, Any]) -> Case:
    """``CASE id WHEN pk THEN value ...``: each row's own value of one column."""
    whens = [
        When(pk=pk, then=Value(row[index], output_field=output)) for pk, row in values.items()
    ]
    return Case(*whens, output_field=output)


def mark_failed(claim: Claim, pk: int, error: str) -> int:
    return _held(claim, [pk]).update(
        status=Status.FAILED,
        updated_at=timezone.now(),
        attempts=F("attempts") + 1,
        claim_token=None,
        last_error=error,
    )


def release(claim: Claim, ids: Collection[int]) -> int:
    """Hand rows back unattempted: due at once, no attempt spent."""
    if not ids:
        return 0
    now = timezone.now()
    return _held(claim, ids).update(
        status=Status.PENDING, next_attempt_at=now, updated_at=now, claim_token=None
    )


def requeue_failed(using: str | None = None) -> int:
    """Make every failed trigger pending again, due now, with its attempts reset."""
    now = timezone.now()
    return (
        Trigger.objects.using(db_alias(using))
        .filter(status=Status.FAILED)
        .update(status=Status.PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )


def count_failed(using: str | None = None) -> int:
    return Trigger.objects.using(db_alias(using)).filter(status=Status.FAILED).count()


def count_due(using: str | None = None) -> int:
    return Trigger.objects.using(db_alias(using)).due().count()
