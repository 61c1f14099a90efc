"""BROCKMAN_DELIVER_ON_COMMIT, a development mode: deliver each trigger as soon as the
transaction that recorded it commits, in the same process, through the flusher.

Loaded by recording only when the setting is on, so the request path imports the
delivery side in this mode alone. Delivery is engine.flush() restricted to the new rows:
each is claimed under a lease (a concurrent flusher cannot also send it), sent through
its destination's backend and written back by transitions.write_back(), exactly as
brockman_flush would. A failure leaves the rows to the flusher and is logged: the page
that recorded them never sees it.
"""

from __future__ import annotations

import logging

from django.db import transaction

from django_brockman.models import Trigger

logger = logging.getLogger("django_brockman.engine")


def deliver_on_commit(triggers: list[Trigger], alias: str) -> None:
    """Once the transaction on *alias* commits, deliver *triggers*; on a rollback, nothing
    was recorded and nothing is sent."""
    pks = [trigger.pk for trigger in triggers if trigger.pk is not None]
    if pks:
        transaction.on_commit(lambda: deliver_now(pks, alias), using=alias, robust=True)


def deliver_now(pks: list[int], alias: str) -> None:
    """Deliver the triggers *pks* now, if due; never raises."""
    from django_brockman import engine

    try:
        result = engine.flush(only=pks, using=alias, concurrency=1, batch_size=len(pks))
    except Exception:
        logger.exception(
            "Could not deliver %d triggers on commit; brockman_flush delivers them later.",
            len(pks),
        )
        return
    if result.error or result.retried or result.failed:
        logger.warning(
            "Delivered on commit: %s. What was not sent waits for brockman_flush.", result
        )
