"""Retrying and giving up on triggers by hand, without touching rows a flusher holds."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from django_brockman import transitions
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


def add(status: str, *, lease_left: float = 0.0, attempts: int = 3) -> Trigger:
    """A trigger in *status*; a sending one holds a lease *lease_left* seconds from now."""
    due = timezone.now() + dt.timedelta(seconds=lease_left)
    token = uuid.uuid4() if status == Status.SENDING else None
    return Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=status, attempts=attempts,
        next_attempt_at=due, claim_token=token,
    )  # fmt: skip


def state(trigger: Trigger) -> tuple[str, int]:
    trigger.refresh_from_db()
    return trigger.status, trigger.attempts


def test_retry_now_makes_failed_and_pending_due_with_attempts_reset() -> None:
    failed, later = add(Status.FAILED), add(Status.PENDING, lease_left=3600)

    result = transitions.retry_now(Trigger.objects.all())

    assert result == transitions.Changed(changed=2, held=0)
    assert state(failed) == (Status.PENDING, 0)
    assert state(later) == (Status.PENDING, 0)
    later.refresh_from_db()
    assert later.next_attempt_at <= timezone.now()


def test_retry_now_leaves_sent_and_held_rows_and_takes_back_expired_leases() -> None:
    sent = add(Status.SENT)
    held = add(Status.SENDING, lease_left=300)
    abandoned = add(Status.SENDING, lease_left=-1)

    result = transitions.retry_now(Trigger.objects.all())

    assert result == transitions.Changed(changed=1, held=1)
    assert state(sent) == (Status.SENT, 3)
    assert state(held) == (Status.SENDING, 3)
    assert state(abandoned) == (Status.PENDING, 0)
    abandoned.refresh_from_db()
    assert abandoned.claim_token is None


def test_mark_failed_gives_up_on_undelivered_rows_only() -> None:
    pending, sent = add(Status.PENDING), add(Status.SENT)
    held, abandoned = add(Status.SENDING, lease_left=300), add(Status.SENDING, lease_left=-1)

    result = transitions.mark_failed(Trigger.objects.all())

    assert result == transitions.Changed(changed=2, held=1)
    assert state(pending) == (Status.FAILED, 3)
    assert state(abandoned) == (Status.FAILED, 3)
    assert state(sent) == (Status.SENT, 3)
    assert state(held) == (Status.SENDING, 3)


def test_mark_failed_touches_only_the_chosen_rows() -> None:
    chosen, other = add(Status.PENDING), add(Status.PENDING)

    transitions.mark_failed(Trigger.objects.filter(pk=chosen.pk))

    assert state(chosen)[0] == Status.FAILED
    assert state(other)[0] == Status.PENDING
