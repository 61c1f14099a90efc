"""The Celery tasks: ``django_brockman.flush`` runs one bounded flush, and the reference
client's ``brockman.django.celery.tasks.record_trigger`` records into the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Task, shared_task
from django.db import InterfaceError, OperationalError

from django_brockman.compat import record_queued_trigger
from django_brockman.tasks import FlushSummary, run_flush

LEGACY_RECORD_TASK = "brockman.django.celery.tasks.record_trigger"


@shared_task(name="django_brockman.flush")
def flush() -> FlushSummary:
    """Deliver due triggers for at most BROCKMAN_TASK_MAX_SECONDS; return the counts."""
    return run_flush()


@shared_task(
    name=LEGACY_RECORD_TASK,
    bind=True,
    # Acknowledged once the trigger is committed: a worker lost before then leaves the
    # message queued, and the message's id makes a second delivery record nothing new.
    acks_late=True,
    # The database away: the message is queued again, with backoff, for as long as it
    # takes, rather than dropped.
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=None,
)
def record_trigger(
    self: Task,
    actor_id: object,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> str | None:
    """Record a trigger in the outbox, where brockman's task sent it at once.

    Takes the reference task's arguments, so ``record_trigger.delay(actor_id=...,
    action=..., obj=...)`` call sites and messages queued by the old code keep working;
    ``brockman_flush`` (or the flush task) delivers it. Returns the trigger's UUID, or
    None when recording is off. Bad input fails the task, as record_trigger() raises.
    """
    trigger = record_queued_trigger(
        self.request.id, actor_id, action, obj, identities, attributes, variables
    )
    return None if trigger is None else str(trigger.uuid)
