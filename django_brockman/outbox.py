"""The outbox's delivery side: claiming due triggers under a lease, and counting them.

What becomes of a claimed trigger is written back by transitions.write_back()."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections, transaction
from django.db.models import Q
from django.utils import timezone

from django_brockman.models import Trigger, TriggerQuerySet, db_alias
from django_brockman.transitions import Change, claimed

__all__ = ["Claim", "claim_batch", "db_alias"]


@dataclass
class Claim:
    """A batch of triggers this flusher holds until their lease ends."""

    token: uuid.UUID
    using: str
    triggers: list[Trigger] = field(default_factory=list)


def refuse_open_transaction(using: str | None = None, *, from_task: bool = False) -> None:
    """Raise RuntimeError if the caller is inside a transaction on the outbox's database.

    Claims must commit before any HTTP is sent, and results be written as they come:
    inside the caller's transaction, claimed rows would stay locked across the requests,
    and a rollback would make triggers already sent pending again. A durable atomic
    block tells (and, unlike ``in_atomic_block``, lets a test case's own transaction by).

    *from_task*: a task backend that runs tasks in the caller's process (Django's
    immediate backend, Celery's task_always_eager) would run the flush inside the
    caller's transaction. A task that does so is refused even inside a test case's
    transaction, so that a test finds what production would do.
    """
    alias = db_alias(using)
    if from_task:
        if connections[alias].in_atomic_block:
            raise RuntimeError(
                "The flush task ran inside a database transaction, which would then be held "
                "open across HTTP requests to FocusLab. Enqueue it with "
                "transaction.on_commit(), or run it on a worker."
            )
        return
    try:
        # No savepoint: the block runs no statement, so it costs no round trip.
        with transaction.atomic(using=alias, durable=True, savepoint=False):
            pass
    except RuntimeError as exc:
        raise RuntimeError(
            "Triggers cannot be flushed inside a database transaction: it would be held "
            "open across the HTTP requests to FocusLab. Flush after the transaction "
            "commits (transaction.on_commit), or from cron or a worker."
        ) from exc


def claim_batch(
    size: int,
    lease_seconds: float,
    using: str | None = None,
    now: datetime | None = None,
    *,
    destinations: Collection[str] | None = None,
    pks: Collection[int] | None = None,
) -> Claim:
    """Claim up to *size* due triggers, oldest due first, in one short transaction.

    Only triggers of *destinations*, and only those with a primary key in *pks*, when
    given (None: any).

    The rows are marked ``sending`` with a fresh claim token and a lease, and the
    transaction commits before any HTTP is sent. Two flushers never hold the same row:
    where the database has SKIP LOCKED, rows locked by one claim are skipped by the
    other; elsewhere (SQLite) the UPDATE re-checks that each row is still due, so the
    later of two racing flushers takes only the rows the earlier one left.
    """
    alias = db_alias(using)
    now = now or timezone.now()
    token = uuid.uuid4()
    change = claimed(token, now + timedelta(seconds=lease_seconds), now)
    due = _narrowed(Trigger.objects.using(alias).due(now), destinations, pks)
    connection = connections[alias]
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic(using=alias):
            if connection.vendor == "mysql":
                rows = _lock_by_key(due, size)
            else:
                rows = list(due.select_for_update(skip_locked=True)[:size])
            # By key alone: the rows are locked, and were due under the lock.
            locked = Trigger.objects.using(alias).filter(pk__in=[row.pk for row in rows])
            locked.update(**change.columns())
    else:
        rows = _claim_unlocked(due, size, change)
    for row in rows:
        change.apply(row)
    return Claim(token=token, using=alias, triggers=rows)


def _narrowed(
    due: TriggerQuerySet, destinations: Collection[str] | None, pks: Collection[int] | None
) -> TriggerQuerySet:
    if destinations is not None:
        due = due.filter(destination__in=sorted(destinations))
    if pks is not None:
        due = due.filter(pk__in=list(pks))
    return due


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


def _claim_unlocked(due: TriggerQuerySet, size: int, change: Change) -> list[Trigger]:
    """Claim with a conditional UPDATE: each UPDATE statement is atomic, and it takes only
    rows that are still due, so rows another flusher claimed meanwhile are left to it."""
    for _ in range(CLAIM_RACES):
        ids = list(due.values_list("pk", flat=True)[:size])
        if not ids:
            return []
        if due.filter(pk__in=ids).update(**change.columns()):
            token = change.values["claim_token"]
            taken = Trigger.objects.using(due.db).filter(pk__in=ids, claim_token=token)
            order = {pk: position for position, pk in enumerate(ids)}  # oldest due first
            return sorted(taken, key=lambda row: order[row.pk])
    return []
