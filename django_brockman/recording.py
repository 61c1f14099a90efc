"""record_trigger() and arecord_trigger(): write one trigger to the outbox, in the caller's
transaction."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.db import router, transaction
from django.http import HttpRequest

from django_brockman import signals
from django_brockman.conf import conf
from django_brockman.consent import may_record
from django_brockman.identities import request_identities
from django_brockman.models import Trigger
from django_brockman.payload import JSONMapping, TriggerArgs, TriggerData
from django_brockman.validation import trigger_data, validate_actor_id


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


def new_row(data: TriggerData) -> Trigger:
    """The unsaved outbox row for a checked trigger."""
    return Trigger(
        actor_id=data.actor_id,
        action=data.action,
        obj=data.obj,
        identities=data.identities,
        attributes=data.attributes,
        variables=data.variables,
    )


def checked(request: HttpRequest | None, args: TriggerArgs) -> TriggerData:
    """*args* checked, with *request*'s actor when it names none and BROCKMAN_IDENTITIES'
    identities for *request* merged under its own."""
    return trigger_data(
        resolve_actor_id(request, args.actor_id),
        args.action,
        args.obj,
        request_identities(request, args.identities),
        args.attributes,
        args.variables,
        max_bytes=conf.MAX_PAYLOAD_BYTES,
    )


def check(args: TriggerArgs) -> None:
    """Check a trigger that will not be recorded (recording is off, or consent was
    refused), so that a mistake in the call still fails in tests and on staging.

    The actor is checked only when given: a refused visitor may well have none.
    """
    placeholder = "-" if args.actor_id is None else validate_actor_id(args.actor_id)
    trigger_data(
        placeholder,
        args.action,
        args.obj,
        args.identities,
        args.attributes,
        args.variables,
        max_bytes=conf.MAX_PAYLOAD_BYTES,
    )


def prepare(request: HttpRequest | None, args: TriggerArgs) -> Trigger | None:
    """The unsaved row to record for *args*, or None when nothing is to be recorded
    (BROCKMAN_ENABLED is False, or BROCKMAN_CONSENT refused *request*). The fields are
    checked either way: bad input raises TypeError or ValueError."""
    if not may_record(request):
        check(args)
        return None
    return new_row(checked(request, args))


def record(
    request: HttpRequest | None, args: TriggerArgs, *, using: str | None = None
) -> Trigger | None:
    """record_trigger() with the trigger's fields as one TriggerArgs."""
    trigger = prepare(request, args)
    if trigger is None:
        return None
    alias = using or router.db_for_write(Trigger)
    trigger.save(using=alias, force_insert=True)
    _announce(trigger, alias)
    return trigger


def record_trigger(
    request: HttpRequest | None,
    action: str,
    obj: str,
    *,
    identities: JSONMapping | None = None,
    attributes: JSONMapping | None = None,
    variables: JSONMapping | None = None,
    actor_id: str | int | None = None,
    using: str | None = None,
) -> Trigger | None:
    """Record a trigger in the outbox; ``brockman_flush`` delivers it later.

    Returns the saved Trigger, or None when nothing was recorded because
    BROCKMAN_ENABLED is False or BROCKMAN_CONSENT refused the request. The row is
    written on *using* (or the router's choice) inside the caller's transaction: if
    that transaction rolls back, nothing was recorded. Bad input raises TypeError or
    ValueError here, before any SQL, and nothing is stored.
    """
    args = TriggerArgs(action, obj, identities, attributes, variables, actor_id)
    return record(request, args, using=using)


async def arecord_trigger(
    request: HttpRequest | None,
    action: str,
    obj: str,
    *,
    identities: JSONMapping | None = None,
    attributes: JSONMapping | None = None,
    variables: JSONMapping | None = None,
    actor_id: str | int | None = None,
    using: str | None = None,
) -> Trigger | None:
    """record_trigger() for async code: the same arguments, result and errors.

    The signed-in user is loaded with ``request.auser()`` and put on ``request.user``
    first, so that the identities and consent callables can read it without a
    database query in the event loop.
    """
    if conf.ENABLED and request is not None and _needs_user(request, actor_id):
        await _load_user(request)
    args = TriggerArgs(action, obj, identities, attributes, variables, actor_id)
    trigger = prepare(request, args)
    if trigger is None:
        return None
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
