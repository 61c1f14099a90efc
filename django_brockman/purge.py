"""purge(): delete old finished triggers (sent, failed) in batches; never pending or in flight."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from django.utils import timezone

from django_brockman.models import Status, Trigger
from django_brockman.outbox import db_alias

DEFAULT_BATCH_SIZE = 1000
FINISHED = {Status.SENT.value, Status.FAILED.value}


class Finished(enum.Enum):
    """Which finished triggers to purge: a choice of the command line, not a status;
    ``statuses`` gives the Status values it stands for."""

    SENT = "sent"
    FAILED = "failed"
    ALL = "all"

    @property
    def statuses(self) -> tuple[Status, ...]:
        if self is Finished.ALL:
            return (Status.SENT, Status.FAILED)
        return (Status(self.value),)


def purge(
    older_than: timedelta,
    status: Finished = Finished.SENT,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    using: str | None = None,
) -> int:
    """Delete triggers finished (last updated) more than *older_than* ago; return how many.

    Rows are deleted *batch_size* at a time, each batch its own short statement, so a
    purge of millions of rows neither holds long locks nor loads them into memory.
    """
    if older_than < timedelta(0):
        raise ValueError(f"older_than must not be negative, got {older_than}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    cutoff = timezone.now() - older_than
    deleted = 0
    while True:
        count = delete_batch(status.statuses, cutoff, batch_size, using)
        if not count:
            return deleted
        deleted += count


def delete_batch(
    statuses: tuple[str, ...], cutoff: datetime, batch_size: int, using: str | None = None
) -> int:
    """Delete up to *batch_size* triggers with one of *statuses* (finished ones only) last
    updated before *cutoff*, in one short statement; return how many.

    The DELETE itself checks the status and the age again, row by row, as it deletes:
    a failed trigger requeued since the SELECT is pending now and stays. It is sent as
    one statement with no signals (Django's own fast delete), because a delete through
    the collector would delete by primary key alone.
    """
    if not set(statuses) <= FINISHED:
        raise ValueError(f"Only finished triggers may be deleted, not {statuses!r}.")
    old = Trigger.objects.using(db_alias(using)).filter(status__in=statuses, updated_at__lt=cutoff)
    ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
    if not ids:
        return 0
    return old.filter(pk__in=ids)._raw_delete(old.db)
