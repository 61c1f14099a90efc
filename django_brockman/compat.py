"""The reference client's Django integration (``brockman.django``), for code moving over:
a settings-configured FocusLabClient, and the Celery task's recording in the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import requests
from django.db import IntegrityError, transaction

from django_brockman import outbox
from django_brockman.backends.http import client_settings
from django_brockman.client import FocusLabClient
from django_brockman.models import Trigger
from django_brockman.recording import record_trigger

# Task ids that are not UUIDs (a producer may choose its own) map into this namespace.
TASK_NAMESPACE = uuid.UUID("0b6a1a38-4d3c-5c1e-9f57-6b726f636b6d")


class DjangoFocusLabClient(FocusLabClient):
    """A FocusLabClient configured from the settings, as ``brockman.django.client``'s.

    Each argument left as None comes from its setting: BROCKMAN_API_KEY (or the
    reference's FL_API_KEY), BROCKMAN_ENDPOINT (or FL_ENDPOINT), BROCKMAN_TIMEOUT. It
    sends at once, from the calling thread: for a page view, record_trigger() instead.
    """

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        key, url, seconds = client_settings(api_key, endpoint, timeout)
        super().__init__(key, url, seconds, session)


def message_uuid(message_id: str | None) -> uuid.UUID | None:
    """The trigger's UUID (its Idempotency-Key) for a task message's id."""
    if not message_id:
        return None
    try:
        return uuid.UUID(message_id)
    except ValueError:
        return uuid.uuid5(TASK_NAMESPACE, message_id)


def record_queued_trigger(
    message_id: str | None,
    actor_id: object,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Trigger | None:
    """Record a trigger queued for the reference's Celery task, once per message.

    The names are coerced with ``str()`` as the reference client did. The trigger takes
    the message's id as its UUID, so a message delivered twice (a worker lost after the
    commit, before the acknowledgement) records it once. Returns the trigger, or None
    when recording is off.
    """
    key = message_uuid(message_id)
    alias = outbox.db_alias()
    fields = (identities, attributes, variables)
    try:
        with transaction.atomic(using=alias):
            recorded = _recorded(key, alias)
            if recorded is not None:
                return recorded
            return _record_once(key, alias, str(actor_id), str(action), str(obj), fields)
    except IntegrityError:
        # The same message, recorded meanwhile by another worker.
        recorded = _recorded(key, alias)
        if recorded is None:
            raise
        return recorded


def _record_once(
    key: uuid.UUID | None,
    alias: str,
    actor_id: str,
    action: str,
    obj: str,
    fields: tuple[Mapping[str, Any] | None, ...],
) -> Trigger | None:
    identities, attributes, variables = fields
    trigger = record_trigger(
        None,
        action,
        obj,
        actor_id=actor_id,
        identities=identities,
        attributes=attributes,
        variables=variables,
        using=alias,
    )
    if trigger is not None and key is not None:
        Trigger.objects.using(alias).filter(pk=trigger.pk).update(uuid=key)
        trigger.uuid = key
    return trigger


def _recorded(key: uuid.UUID | None, alias: str) -> Trigger | None:
    if key is None:
        return None
    return Trigger.objects.using(alias).filter(uuid=key).first()
