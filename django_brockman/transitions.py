"""Every change of a trigger's status, in one place.

Each change is one rule (a Change: the columns it writes), applied alike to the row and to
the Python object, so that what a signal's receiver sees is what the row holds. The
flusher's claim (outbox.claim_batch) and write-back, the admin's actions and
``--retry-failed`` all come here. Whether a flusher holds a row is the lease, asked of the
model (Trigger.objects.held()), as erasure does.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case, F, Field, QuerySet, Value, When
from django.dispatch import Signal
from django.utils import timezone

from django_brockman import signals
from django_brockman.models import Status, Trigger, TriggerQuerySet, db_alias, held_at

# The flusher's log: each trigger's outcome. Operators filter on this name.
logger = logging.getLogger("django_brockman.engine")


@dataclass(frozen=True)
class Change:
    """One status change: the status, the other columns it writes, and whether it spends
    an attempt (adds one to ``attempts``)."""

    status: Status
    values: Mapping[str, Any] = field(default_factory=dict)
    spends_attempt: bool = False

    def columns(self) -> dict[str, Any]:
        """The change as keyword arguments of QuerySet.update()."""
        columns: dict[str, Any] = {"status": self.status, **self.values}
        if self.spends_attempt:
            columns["attempts"] = F("attempts") + 1
        return columns

    def apply(self, trigger: Trigger) -> None:
        """Make *trigger* what the row becomes."""
        trigger.status = self.status
        for name, value in self.values.items():
            setattr(trigger, name, value)
        if self.spends_attempt:
            trigger.attempts += 1


def claimed(token: uuid.UUID, lease_ends: datetime, now: datetime) -> Change:
    """Held by one flusher (*token*) until *lease_ends*: the lease's end is kept in
    ``next_attempt_at``, so one index serves "due" for pending and leased rows alike."""
    values = {"claim_token": token, "next_attempt_at": lease_ends, "updated_at": now}
    return Change(Status.SENDING, values)


def sent(now: datetime) -> Change:
    values = {"sent_at": now, "updated_at": now, "claim_token": None, "last_error": ""}
    return Change(Status.SENT, values, spends_attempt=True)


def retried(retry_at: datetime, error: str, now: datetime) -> Change:
    """Pending again, due at *retry_at*."""
    values = {"next_attempt_at": retry_at, "last_error": error, "updated_at": now}
    return Change(Status.PENDING, {**values, "claim_token": None}, spends_attempt=True)


def failed(error: str, now: datetime) -> Change:
    """Given up on (dead-lettered) by the flusher."""
    values = {"last_error": error, "updated_at": now, "claim_token": None}
    return Change(Status.FAILED, values, spends_attempt=True)


def released(now: datetime) -> Change:
    """Handed back unattempted: due at once, no attempt spent."""
    values = {"next_attempt_at": now, "updated_at": now, "claim_token": None}
    return Change(Status.PENDING, values)


def retried_by_hand(now: datetime) -> Change:
    """An operator's "retry now": due at once, attempts reset."""
    values = {"attempts": 0, "next_attempt_at": now, "updated_at": now, "claim_token": None}
    return Change(Status.PENDING, values)


def failed_by_hand(now: datetime) -> Change:
    """An operator's "mark failed": never sent again unless retried."""
    return Change(Status.FAILED, {"updated_at": now, "claim_token": None})


def write(rows: QuerySet[Trigger], changes: Mapping[int, Change]) -> int:
    """Write each row's change (by pk) in one UPDATE; return how many rows it wrote.

    The changes must be of one kind; a column whose value differs between rows is
    written as ``CASE id WHEN pk THEN value ...``.
    """
    if not changes:
        return 0
    first = next(iter(changes.values()))
    columns = first.columns()
    for name in first.values:
        values = {pk: change.values[name] for pk, change in changes.items()}
        if any(value != columns[name] for value in values.values()):
            columns[name] = _per_row(name, values)
    return rows.filter(pk__in=changes.keys()).update(**columns)


def _per_row(name: str, values: Mapping[int, Any]) -> Case:
    output = Trigger._meta.get_field(name)
    assert isinstance(output, Field)
    whens = [When(pk=pk, then=Value(value, output_field=output)) for pk, value in values.items()]
    return Case(*whens, output_field=output)


# Operators' actions ------------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """How many of the chosen rows were changed, and how many a flusher held."""

    changed: int
    held: int


def retry_now(triggers: QuerySet[Trigger]) -> Changed:
    """Make the chosen pending, failed or abandoned triggers due now with attempts reset.

    Sent triggers are left alone, and so are those a flusher holds: its result is coming.
    """
    return _by_hand(triggers.exclude(status=Status.SENT), triggers, retried_by_hand)


def mark_failed(triggers: QuerySet[Trigger]) -> Changed:
    """Give up on the chosen undelivered triggers; they are not sent again unless retried."""
    undelivered = triggers.filter(status__in=(Status.PENDING, Status.SENDING))
    return _by_hand(undelivered, triggers, failed_by_hand)


def _by_hand(
    chosen: QuerySet[Trigger], triggers: QuerySet[Trigger], rule: Callable[[datetime], Change]
) -> Changed:
    now = timezone.now()
    held = triggers.filter(held_at(now)).count()
    changed = chosen.exclude(held_at(now)).update(**rule(now).columns())
    return Changed(changed, held)


def requeue_failed(using: str | None = None) -> int:
    """``--retry-failed``: every failed trigger is retried now, its attempts reset."""
    failed = Trigger.objects.using(db_alias(using)).filter(status=Status.FAILED)
    return retry_now(failed).changed


# The flusher's write-back ------------------------------------------------------------


@dataclass
class Tally:
    """What a write-back did. ``lost``: results not written because the row had passed
    to another flusher's claim (or was deleted by an erasure request)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0


Announcement = tuple[Signal, Trigger, dict[str, str]]
# One trigger's result: the trigger as claimed (with its claim token), and its change.
Result = tuple[Trigger, Change]


def held_by(token: uuid.UUID, using: str) -> TriggerQuerySet:
    """The rows the claim *token* still holds. Every write-back goes through here: a
    flusher whose lease expired and whose rows were claimed again cannot overwrite the
    newer claim's result."""
    return Trigger.objects.using(using).filter(claim_token=token, status=Status.SENDING)


def write_back(using: str, results: Sequence[Result]) -> Tally:
    """Write a flusher's results in one transaction; then send the signals.

    Per claim: one UPDATE each for the sent, the retried and the released rows, and one
    per failed row (trigger_failed goes only to rows this flusher still held, and a
    batched UPDATE would not say which those were; failures are rare). Every UPDATE
    takes only rows the claim still holds, so a flusher whose lease ran out cannot
    overwrite a newer claim's result. Something else to write with the results (a
    count) belongs in this transaction.
    """
    tally = Tally()
    announce: list[Announcement] = []
    groups: defaultdict[tuple[uuid.UUID, str, bool], dict[int, Result]] = defaultdict(dict)
    for trigger, change in results:
        assert trigger.claim_token is not None
        groups[trigger.claim_token, change.status, change.spends_attempt][trigger.pk] = (
            trigger,
            change,
        )
    # No savepoint: in a test case's transaction, the statements are the same as outside.
    with transaction.atomic(using=using, savepoint=False):
        for (token, _, _), group in groups.items():
            announce += _write_group(held_by(token, using), group, tally)
    for signal, trigger, kwargs in announce:
        notify(signal, trigger=trigger, **kwargs)
    return tally


def _write_group(
    held: TriggerQuerySet, group: dict[int, Result], tally: Tally
) -> list[Announcement]:
    """Write one claim's results of one kind; return the signals they call for."""
    triggers = [trigger for trigger, _ in group.values()]
    change = next(iter(group.values()))[1]
    for trigger, each in group.values():
        _log(trigger, each)
        each.apply(trigger)
    if change.status == Status.FAILED:
        return [
            announcement
            for trigger, each in group.values()
            for announcement in _write_failed(held, trigger, each, tally)
        ]
    written = write(held, {pk: each for pk, (_, each) in group.items()})
    if change.status == Status.SENT:
        tally.sent += written
        tally.lost += len(group) - written
        return _sent_signals(held, triggers, change, written)
    if change.spends_attempt:
        tally.retried += written
        tally.lost += len(group) - written
    else:
        tally.released += written
    return []


def _write_failed(
    held: TriggerQuerySet, trigger: Trigger, change: Change, tally: Tally
) -> list[Announcement]:
    written = write(held, {trigger.pk: change})
    tally.failed += written
    tally.lost += 1 - written
    # A trigger another claim had taken is that claim's to announce.
    return [(signals.trigger_failed, trigger, {"error": trigger.last_error})] if written else []


def _sent_signals(
    held: TriggerQuerySet, triggers: list[Trigger], change: Change, written: int
) -> list[Announcement]:
    if not written or not signals.trigger_sent.has_listeners():
        return []
    ids = {trigger.pk for trigger in triggers}
    if written < len(ids):
        # Only rows this flusher still held: one claimed again after its lease ran out,
        # or deleted by an erasure request, was not written.
        stamp = change.values["updated_at"]
        rows = Trigger.objects.using(held.db).filter(pk__in=ids, status=Status.SENT)
        ids = set(rows.filter(updated_at=stamp).values_list("pk", flat=True))
    return [(signals.trigger_sent, trigger, {}) for trigger in triggers if trigger.pk in ids]


def _log(trigger: Trigger, change: Change) -> None:
    if change.status == Status.SENT:
        logger.debug("Trigger %s sent", trigger.uuid)
    elif change.status == Status.FAILED:
        logger.warning("Trigger %s failed: %s", trigger.uuid, change.values["last_error"])
    elif change.spends_attempt:
        logger.info("Trigger %s will be retried: %s", trigger.uuid, change.values["last_error"])


def notify(signal: Signal, **kwargs: Any) -> None:
    """Send *signal*; a receiver's error is logged, never raised.

    A receiver's error must not stop the run: the results it has not yet written would
    be lost and their triggers sent again.
    """
    for receiver, response in signal.send_robust(Trigger, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "A receiver of a django_brockman signal raised (%r)", receiver, exc_info=response
            )
