"""Retention: the flusher deletes old finished triggers a small batch at a time, between claims.

With ``BROCKMAN_KEEP_SENT_DAYS`` and ``BROCKMAN_KEEP_FAILED_DAYS`` the outbox stays
bounded with no cron line of its own. Only sent and failed rows are ever deleted
(purge.delete_batch checks the status in the DELETE itself), each batch in its own
short statement, so no pending or in-flight trigger is touched and no long transaction
is held.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import DatabaseError

from django_brockman import counters
from django_brockman.clock import SYSTEM_CLOCK, Clock
from django_brockman.conf import conf
from django_brockman.dbretry import is_outage
from django_brockman.models import Status
from django_brockman.purge import delete_batch
from django_brockman.unmigrated import missing_table

# A century: further back than any database's dates, and within timedelta's range.
MAX_DAYS = 36500
BATCH_SIZE = 500
# A batch that came back full means more is waiting: look again soon, but leave the
# flusher most of its time for delivery. One that did not: the backlog is gone.
CATCH_UP = dt.timedelta(seconds=1)
IDLE = dt.timedelta(seconds=60)
# Delivery counts are kept a week beyond the 24 hours the health figures read.
KEEP_COUNTS = dt.timedelta(days=8)

logger = logging.getLogger("django_brockman.retention")


def days(value: float | None) -> dt.timedelta | None:
    return None if value is None else dt.timedelta(days=value)


@dataclass
class Retention:
    """Which finished triggers to delete, and when the flusher should look next."""

    keep_sent: dt.timedelta | None
    keep_failed: dt.timedelta | None
    using: str | None = None
    batch_size: int = BATCH_SIZE
    clock: Clock = SYSTEM_CLOCK
    next_look: dt.datetime | None = None

    @classmethod
    def from_settings(cls, using: str | None = None, clock: Clock = SYSTEM_CLOCK) -> Retention:
        return cls(days(conf.KEEP_SENT_DAYS), days(conf.KEEP_FAILED_DAYS), using, clock=clock)

    def tidy(self) -> int:
        """Delete at most one batch of each finished status past its age, if it is time
        to look; return how many triggers were deleted."""
        now = self.clock.now()
        if self.next_look is not None and now < self.next_look:
            return 0
        self.next_look = now + IDLE
        try:
            deleted, full = self.delete_old(now)
        except DatabaseError as exc:
            if missing_table(exc) or is_outage(exc):
                # Not a hiccup: the migrations have not run, or the database is away,
                # which the flusher's DatabaseRetry waits out and logs once.
                raise
            # Housekeeping must not stop delivery (a lock timeout, say): try next time.
            logger.warning("Could not delete old triggers; retrying later.", exc_info=True)
            return 0
        if full:
            self.next_look = now + CATCH_UP
        return deleted

    def delete_old(self, now: dt.datetime) -> tuple[int, bool]:
        """One batch of each status; how many were deleted, and whether a batch was full."""
        deleted, full = 0, False
        for status, keep in ((Status.SENT, self.keep_sent), (Status.FAILED, self.keep_failed)):
            if keep is not None:
                count = delete_batch((status.value,), now - keep, self.batch_size, self.using)
                deleted += count
                full = full or count >= self.batch_size
        if not full:
            counters.forget_before(now - KEEP_COUNTS, self.using)
        return deleted, full
