"""Signals django_brockman sends: hooks for code that wants to know a trigger's fate."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.dispatch import Signal

if TYPE_CHECKING:
    from django_brockman.models import Trigger

logger = logging.getLogger("django_brockman.signals")

#: Sent after the transaction that recorded a trigger commits. Arguments: ``trigger``.
trigger_recorded = Signal()

#: Sent by the flusher once FocusLab accepted a trigger. Arguments: ``trigger``.
trigger_sent = Signal()

#: Sent by the flusher when a trigger is given up on (dead-lettered). Arguments:
#: ``trigger`` and ``error`` (the last error, a string).
trigger_failed = Signal()


def send_robustly(signal: Signal, **kwargs: Any) -> None:
    """Send *signal* to every receiver; a receiver's error is logged, never raised."""
    from django_brockman.models import Trigger

    for receiver, response in signal.send_robust(Trigger, **kwargs):
        if isinstance(response, Exception):
            logger.error(
                "A receiver of a django_brockman signal raised (%r)", receiver, exc_info=response
            )


def announce_recorded(triggers: Sequence[Trigger], using: str) -> None:
    """Send trigger_recorded for each of *triggers* once the transaction on *using* commits.

    A receiver's error is logged: it must not turn the committed page into an error, nor
    stop the site's own on_commit callbacks registered after it.
    """
    if not trigger_recorded.has_listeners():
        return

    def send() -> None:
        for trigger in triggers:
            send_robustly(trigger_recorded, trigger=trigger)

    transaction.on_commit(send, using=using, robust=True)
