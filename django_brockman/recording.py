"""record_trigger() and arecord_trigger(): write one trigger to the outbox, in the caller's
transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiref.sync import sync_to_async
from django.db import router, transaction
from django.http import HttpRequest

from django_brockman import signals
from django_brockman.conf import conf
from django_brockman.consent import may_record
from django_brockman.identities import request_identities
from django_brockman.models import Trigger
from django_brockman.validation import (
    validate_actor_id,
    validate_mapping,
    validate_name,
    validate_size,
)


def resolve_actor_id(request: HttpRequest | None, actor_id: object = None) -> str:
    """The actor: *actor_id* if given, else the cookie's, else the signed-in user's pk."""
    if actor_id is None and request is not None:
        actor_id = getattr(request, "fl_actor_id", None)
        if actor_id is None:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                actor_id = user.pk
    if actor_id is None:
        raise ValueError(
            "No actor for this trigger: pass actor_id=, add "
            "django_brockman.middleware.BrockmanMiddleware so the fl_actor_id cookie is "
            "read, or record it for a signed-in user."
        )
    return validate_actor_id(actor_id)


def build_trigger(
    actor_id: str,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Trigger:
    """Validate the fields and return an unsaved Trigger."""
    fields: dict[str, Any] = {
        "actor_id": actor_id,
        "action": validate_name("action", action),
        "obj": validate_name("obj", obj),
        "identities": validate_mapping("identities", identities),
        "attributes": validate_mapping("attributes", attributes),
        "variables": validate_mapping("variables", variables),
    }
    validate_size(fields, conf.MAX_PAYLOAD_BYTES)
    return Trigger(**fields)


def check_fields(
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor_id: object = None,
) -> None:
    """Validate a trigger that will not be recorded (recording is off, or consent was
    refused), so that a mistake in the call still fails in tests and on staging.

    The actor is checked only when given: a refused visitor may well have none.
    """
    placeholder = "-" if actor_id is None else validate_actor_id(actor_id)
    build_trigger(placeholder, action, obj, identities, attributes, variables)


def prepare_trigger(
    request: HttpRequest | None,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    actor_id: object = None,
) -> Trigger:
    """The unsaved Trigger for *request*: its actor, BROCKMAN_IDENTITIES merged under
    *identities*, every field validated."""
    return build_trigger(
        resolve_actor_id(request, actor_id),
        action,
        obj,
        request_identities(request, identities),
        attributes,
        variables,
    )


def record_trigger(
    request: HttpRequest | None,
    action: str,
    obj: str,
    *,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    actor_id: str | int | None = None,
    using: str | None = None,
) -> Trigger | None:
    """Record a trigger in the outbox; ``brockman_flush`` delivers it later.

    Returns the saved Trigger, or None when nothing was recorded because
    BROCKMAN_ENABLED is False or BROCKMAN_CONSENT refused the request. The row is
    written on *using* (or the router's choice) inside the caller's transaction: if
    that transaction rolls back, nothing was recorded. Bad input raises TypeError or
    ValueError here, and nothing is stored.
    """
    if not may_record(request):
        check_fields(action, obj, identities, attributes, variables, actor_id=actor_id)
        return None
    trigger = prepare_trigger(
        request, action, obj, identities, attributes, variables, actor_id=actor_id
    )
    alias = using or router.db_for_write(Trigger)
    trigger.save(using=alias, force_insert=True)
    _announce(trigger, alias)
    return trigger


async def arecord_trigger(
    request: HttpRequest | None,
    action: str,
    obj: str,
    *,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    actor_id: str | int | None = None,
    using: str | None = None,
) -> Trigger | None:
    """record_trigger() for async code: the same arguments, result and errors.

    The signed-in user is loaded with ``request.auser()`` and put on ``request.user``
    first, so that the identities and consent callables can read it without a
    database query in the event loop.
    """
    if not conf.ENABLED:
        check_fields(action, obj, identities, attributes, variables, actor_id=actor_id)
        return None
    if request is not None and _needs_user(request, actor_id):
        await _load_user(request)
    if not may_record(request):
        check_fields(action, obj, identities, attributes, variables, actor_id=actor_id)
        return None
    trigger = prepare_trigger(
        request, action, obj, identities, attributes, variables, actor_id=actor_id
    )
    alias = using or router.db_for_write(Trigger)
    await trigger.asave(using=alias, force_insert=True)
    if signals.trigger_recorded.has_listeners():
        # on_commit must be registered on the connection that saved the row: the one
        # of the thread the async ORM ran in, not the event loop's.
        await sync_to_async(_announce)(trigger, alias)
    return trigger


def _needs_user(request: HttpRequest, actor_id: object) -> bool:
    if conf.IDENTITIES is not None or conf.CONSENT is not None:
        return True
    return actor_id is None and getattr(request, "fl_actor_id", None) is None


async def _load_user(request: HttpRequest) -> None:
    auser = getattr(request, "auser", None)
    if auser is not None:
        request.user = await auser()


def _announce(trigger: Trigger, alias: str) -> None:
    if signals.trigger_recorded.has_listeners():
        transaction.on_commit(
            lambda: signals.trigger_recorded.send(Trigger, trigger=trigger), using=alias
        )
