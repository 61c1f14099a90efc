"""What an operator may do to stored triggers by hand: retry them now, or give up on them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from django_brockman.models import Status, Trigger


def held_by_flusher(now: dt.datetime) -> Q:
    """Rows a running flusher has claimed and may be sending right now.

    A flusher starts a request only while its lease outlives the request's timeout, so
    once the lease (``next_attempt_at`` of a sending row) has passed, nothing is in flight.
    """
    return Q(status=Status.SENDING, next_attempt_at__gt=now)


@dataclass(frozen=True)
class Changed:
    """How many of the chosen rows were changed, and how many a flusher held."""

    changed: int
    held: int


def retry_now(triggers: QuerySet[Trigger]) -> Changed:
    """Make the chosen pending, failed or abandoned triggers due now with attempts reset.

    Sent triggers are left alone, and so are those a flusher holds: its result is coming.
    """
    now = timezone.now()
    held = triggers.filter(held_by_flusher(now)).count()
    changed = (
        triggers.exclude(status=Status.SENT)
        .exclude(held_by_flusher(now))
        .update(
            status=Status.PENDING,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
            claim_token=None,
        )
    )
    return Changed(changed, held)


def mark_failed(triggers: QuerySet[Trigger]) -> Changed:
    """Give up on the chosen undelivered triggers; they are not sent again unless retried."""
    now = timezone.now()
    held = triggers.filter(held_by_flusher(now)).count()
    changed = (
        triggers.filter(status__in=(Status.PENDING, Status.SENDING))
        .exclude(held_by_flusher(now))
        .update(status=Status.FAILED, updated_at=now, claim_token=None)
    )
    return Changed(changed, held)
