"""record_trigger() and arecord_trigger(): write one trigger to the outbox, in the caller's
transaction."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.db import router
from django.http import HttpRequest

from django_brockman import signals
from django_brockman.actor import how_to_get_an_actor, request_actor_id
from django_brockman.callables import CallableFailed
from django_brockman.conf import conf
from django_brockman.consent import may_record
from django_brockman.destinations import DEFAULT, validate_destination
from django_brockman.identities import request_identities
from django_brockman.models import Trigger
from django_brockman.payload import JSONMapping, TriggerArgs, TriggerData
from django_brockman.validation import trigger_data, validate_actor_id

logger = logging.getLogger("django_brockman.capture")

#: The actor a trigger that will not be stored is checked with when it has none.
UNCHECKED_ACTOR = "-"


def resolve_actor_id(request: HttpRequest | None, actor_id: object = None) -> str | None:
    """The actor: *actor_id* if given, else the request's (its cookie's, its signed-in
    user's, or one BrockmanMiddleware mints now).

    None, with a warning that names the fix, when the request has no actor: a visitor
    without one is a normal case, and recording must never break the page. Without a
    request, a missing *actor_id* is a programming error: ValueError.
    """
    if actor_id is None and request is not None:
        actor_id = request_actor_id(request)
        if actor_id is None:
            logger.warning(
                "No actor for this trigger, so nothing was recorded: the visitor has no "
                "usable %s cookie and is not signed in. To record such visitors, %s; or "
                "pass actor_id=.",
                conf.ACTOR_COOKIE,
                how_to_get_an_actor(request),
            )
            return None
    if actor_id is None:
        raise ValueError(
            "No actor for this trigger: without a request, pass actor_id= (the visitor's "
            "fl_actor_id or your user's id)."
        )
    return validate_actor_id(actor_id)


def new_row(data: TriggerData, destination: str = DEFAULT) -> Trigger:
    """The unsaved outbox row for a checked trigger."""
    return Trigger(
        actor_id=data.actor_id,
        action=data.action,
        obj=data.obj,
        identities=data.identities,
        attributes=data.attributes,
        variables=data.variables,
        destination=destination,
    )


def check(args: TriggerArgs) -> None:
    """Check a trigger that will not be recorded (recording is off, or consent was
    refused), so that a mistake in the call still fails in tests and on staging.

    The actor is checked only when given: a refused visitor may well have none.
    """
    placeholder = UNCHECKED_ACTOR if args.actor_id is None else validate_actor_id(args.actor_id)
    trigger_data(
        placeholder,
        args.action,
        args.obj,
        args.identities,
        args.attributes,
        args.variables,
        max_bytes=conf.MAX_PAYLOAD_BYTES,
    )
    validate_destination(args.destination)


def prepare(request: HttpRequest | None, args: TriggerArgs) -> Trigger | None:
    """The unsaved row to record for *args*: its actor, BROCKMAN_IDENTITIES merged under
    its identities, every field checked.

    None when nothing is to be recorded (recording is off, consent was refused, a site
    callable failed, the visitor has no actor); the fields are checked all the same:
    bad input raises TypeError or ValueError.
    """
    found = _actor_and_identities(request, args)
    if found is None:
        check(args)
        return None
    actor, identities = found
    return new_row(
        trigger_data(
            actor,
            args.action,
            args.obj,
            identities,
            args.attributes,
            args.variables,
            max_bytes=conf.MAX_PAYLOAD_BYTES,
        ),
        validate_destination(args.destination),
    )


def _actor_and_identities(
    request: HttpRequest | None, args: TriggerArgs
) -> tuple[str, JSONMapping | None] | None:
    # Consent first: no cookie is minted for a visitor who refused.
    if not may_record(request):
        return None
    try:
        identities = request_identities(request, args.identities)
    except CallableFailed:
        return None
    actor = resolve_actor_id(request, args.actor_id)
    return None if actor is None else (actor, identities)


def record(
    request: HttpRequest | None, args: TriggerArgs, *, using: str | None = None
) -> Trigger | None:
    """record_trigger() with the trigger's fields as one TriggerArgs."""
    trigger = prepare(request, args)
    if trigger is None:
        return None
    alias = using or router.db_for_write(Trigger)
    trigger.save(using=alias, force_insert=True)
    after_save([trigger], alias)
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
    destination: str = DEFAULT,
) -> Trigger | None:
    """Record a trigger in the outbox; ``brockman_flush`` delivers it later.

    *destination* names the BROCKMAN_DESTINATIONS entry that delivers it ("default");
    an unknown name raises ValueError, even when nothing is recorded.

    Returns the saved Trigger, or None when nothing was recorded: BROCKMAN_ENABLED is
    False, BROCKMAN_CONSENT refused the request, the visitor has no actor (logged), or,
    in production, a BROCKMAN_CONSENT or BROCKMAN_IDENTITIES callable raised (logged).
    The row is written on *using* (or the router's choice) inside the caller's
    transaction: if that transaction rolls back, nothing was recorded. Bad input raises
    TypeError or ValueError here, before any SQL, and nothing is stored.
    """
    args = TriggerArgs(action, obj, identities, attributes, variables, actor_id, destination)
    return record(request, args, using=using)


def after_save(triggers: list[Trigger], alias: str) -> None:
    """What follows an INSERT of *triggers*, on its connection: the trigger_recorded
    signal, and with BROCKMAN_DELIVER_ON_COMMIT their delivery, both once the caller's
    transaction commits."""
    signals.announce_recorded(triggers, alias)
    if conf.DELIVER_ON_COMMIT:
        # Loaded only when the setting is on: the request path never imports the
        # delivery side otherwise (a development mode).
        from django_brockman.oncommit import deliver_on_commit

        deliver_on_commit(triggers, alias)


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
    destination: str = DEFAULT,
) -> Trigger | None:
    """record_trigger() for async code: the same arguments, result and errors.

    The signed-in user is loaded with ``request.auser()`` and put on ``request.user``
    first, so that the identities and consent callables can read it without a
    database query in the event loop.
    """
    if conf.ENABLED and request is not None and _needs_user(request, actor_id):
        await _load_user(request)
    args = TriggerArgs(action, obj, identities, attributes, variables, actor_id, destination)
    trigger = prepare(request, args)
    if trigger is None:
        return None
    alias = using or router.db_for_write(Trigger)
    await trigger.asave(using=alias, force_insert=True)
    if signals.trigger_recorded.has_listeners() or conf.DELIVER_ON_COMMIT:
        # on_commit must be registered on the connection that saved the row: the one
        # of the thread the async ORM ran in, not the event loop's.
        await sync_to_async(after_save)([trigger], alias)
    return trigger


def _needs_user(request: HttpRequest, actor_id: object) -> bool:
    if conf.IDENTITIES is not None or conf.CONSENT is not None:
        return True
    return actor_id is None and getattr(request, "fl_actor_id", None) is None


async def _load_user(request: HttpRequest) -> None:
    auser = getattr(request, "auser", None)
    if auser is not None:
        request.user = await auser()
