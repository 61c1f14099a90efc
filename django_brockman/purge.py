"""purge(): delete old finished triggers (sent, failed) in batches; never pending or in flight."""

from __future__ import annotations

import enum
from datetime import timedelta

from django.utils import timezone

from django_brockman.models import Status, Trigger
from django_brockman.outbox import db_alias

DEFAULT_BATCH_SIZE = 1000


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
    old = Trigger.objects.using(db_alias(using)).filter(
        status__in=status.statuses, updated_at__lt=cutoff
    )
    deleted = 0
    while True:
        ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        # The conditions are checked again as the rows are deleted: a failed trigger
        # requeued since the SELECT is pending now and must stay.
        count, _ = old.filter(pk__in=ids).delete()
        deleted += count
