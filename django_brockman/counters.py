"""Per-hour delivery counts, added by the flusher's write-back in its own transaction.

The health page and ``brockman_status`` read these few rows instead of the outbox, so
their cost does not grow with the day's sends or the table's history.

Exactness: ``add()`` runs inside the transaction that changes the rows' status, with the
number of rows that statement changed. Both commit together or neither does, so a
write-back that a crash interrupts leaves no count, and the triggers' later write-back
(after their lease ends and another flusher sends them again) counts them once. A
count is a status change, not an HTTP request: a request repeated after a crash is
counted once, in the hour its result was written back.

Contention: each hour has up to SHARDS rows, and a write-back adds to the one its claim
picks, so concurrent flushers rarely wait on the same row, and then only until the
other's write-back commits.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, Sum
from django.db.models.expressions import Combinable

from django_brockman.models import DeliveryCount

SHARDS = 16
# Longer than any error text helps on a dashboard; the trigger keeps the whole text.
ERROR_CHARS = 2000
COUNTS = ("sent", "retried", "failed")


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of *moment*'s clock hour, in UTC."""
    return moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)


def shard_of(key: uuid.UUID | None) -> int:
    return random.randrange(SHARDS) if key is None else key.int % SHARDS


def add(
    using: str,
    at: dt.datetime,
    *,
    sent: int = 0,
    retried: int = 0,
    failed: int = 0,
    error: str = "",
    key: uuid.UUID | None = None,
) -> None:
    """Count results written back at *at*, in the caller's transaction on *using*.

    Call it last in the transaction that changed the rows, with the number of rows the
    change wrote: the counter row stays locked until that transaction ends, and taking
    it last means no transaction waits for a trigger row while holding a counter row.
    *key* (the claim token) picks the shard; *error* is the latest error among them.
    """
    if not (sent or retried or failed):
        return
    if not connections[using].in_atomic_block:
        raise RuntimeError("counters.add() must run in the write-back's transaction.")
    values: dict[str, int | str | dt.datetime] = {
        "sent": sent,
        "retried": retried,
        "failed": failed,
    }
    if error:
        values.update(last_error=error[:ERROR_CHARS], last_error_at=at)
    _add_to_row(using, hour_of(at), shard_of(key), values)


def _add_to_row(
    using: str, hour: dt.datetime, shard: int, values: dict[str, int | str | dt.datetime]
) -> None:
    """Add the counts in *values* to the row of (*hour*, *shard*), and set its latest
    error if *values* has one; create the row if there is none yet."""
    changes: dict[str, Combinable | int | str | dt.datetime] = {
        name: F(name) + value if name in COUNTS else value
        for name, value in values.items()
        if value or name not in COUNTS
    }
    row = DeliveryCount.objects.using(using).filter(hour=hour, shard=shard)
    if row.update(**changes):
        return
    try:
        with transaction.atomic(using=using):  # a savepoint: a lost race rolls back alone
            DeliveryCount.objects.using(using).create(hour=hour, shard=shard, **values)
    except IntegrityError:
        # Another write-back created the row since our UPDATE; it is there now.
        row.update(**changes)


@dataclass(frozen=True)
class HourCount:
    """Delivery results of the hour that starts at *start* (UTC)."""

    start: dt.datetime
    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def failures(self) -> int:
        """Attempts that did not deliver: retried later, or given up on."""
        return self.retried + self.failed


def per_hour(starts: list[dt.datetime], using: str | None) -> list[HourCount]:
    """The counts of the hours starting at *starts*: one query over at most
    ``len(starts) * SHARDS`` rows."""
    rows = (
        DeliveryCount.objects.using(using)
        .filter(hour__gte=starts[0], hour__lte=starts[-1])
        .order_by()
        .values_list("hour")
        .annotate(Sum("sent"), Sum("retried"), Sum("failed"))
    )
    found = {hour_of(hour): (sent, retried, failed) for hour, sent, retried, failed in rows}
    return [HourCount(start, *found.get(start, (0, 0, 0))) for start in starts]


@dataclass(frozen=True)
class LatestError:
    text: str
    at: dt.datetime


def latest_error(using: str | None) -> LatestError | None:
    """The latest error any write-back counted, over the hours still kept."""
    row = (
        DeliveryCount.objects.using(using)
        .filter(~Q(last_error=""), last_error_at__isnull=False)
        .order_by("-last_error_at")
        .values_list("last_error", "last_error_at")
        .first()
    )
    if row is None or row[1] is None:
        return None
    return LatestError(row[0], row[1])


def forget_before(cutoff: dt.datetime, using: str | None) -> int:
    """Delete the counts of hours that started before *cutoff*; how many rows."""
    deleted, _ = DeliveryCount.objects.using(using).filter(hour__lt=cutoff).delete()
    return deleted
