"""record_triggers(): validate many triggers, then write them all in a few INSERTs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import router
from django.http import HttpRequest

from django_brockman.callables import CallableFailed
from django_brockman.consent import may_record
from django_brockman.destinations import DEFAULT, validate_destination
from django_brockman.identities import request_identities
from django_brockman.models import Trigger
from django_brockman.recording import (
    UNCHECKED_ACTOR,
    after_save,
    build_trigger,
    resolve_actor_id,
)
from django_brockman.validation import validate_actor_id

#: The keys an item may have: record_trigger's arguments, less *request* and *using*.
ITEM_KEYS = frozenset(
    {"action", "obj", "actor_id", "identities", "attributes", "variables", "destination"}
)


def record_triggers(
    request: HttpRequest | None,
    items: Iterable[Mapping[str, Any]],
    *,
    using: str | None = None,
    destination: str = DEFAULT,
) -> list[Trigger]:
    """Record many triggers with ``bulk_create``: for backfills and imports.

    Each item is a dict of record_trigger's arguments (``action``, ``obj`` and
    optionally ``actor_id``, ``identities``, ``attributes``, ``variables``,
    ``destination``); an item without ``actor_id`` takes the request's actor, one
    without ``destination`` goes to *destination*. Every item is validated before
    anything is written: bad input raises TypeError or ValueError naming the item's
    index, and nothing is stored. The rows are written inside the caller's transaction.

    As with record_trigger(), BROCKMAN_IDENTITIES' identities for *request* are merged
    under each item's, and nothing is stored (an empty list is returned, after the
    items were checked) when BROCKMAN_ENABLED is False, BROCKMAN_CONSENT refuses
    *request*, a site callable raised in production, or an item needs the request's
    actor and it has none (logged).
    """
    recording = may_record(request)
    shared = None
    if recording:
        try:
            # Asked once: the identities of one request are the same for every item.
            shared = request_identities(request)
        except CallableFailed:
            recording = False
    request_actor = RequestActor(request, recording)
    triggers = _build_all(items, request_actor, shared, validate_destination(destination))
    if not recording or request_actor.missing:
        return []
    alias = using or router.db_for_write(Trigger)
    # bulk_create is atomic: a database error part way stores none of the rows.
    Trigger.objects.using(alias).bulk_create(triggers)
    after_save(triggers, alias)
    return triggers


class RequestActor:
    """The actor of every item without its own: the request's, resolved once, and only
    if an item needs it."""

    def __init__(self, request: HttpRequest | None, recording: bool) -> None:
        self.request = request
        self.recording = recording
        self.resolved = False
        self.actor_id: str | None = None

    @property
    def missing(self) -> bool:
        return self.resolved and self.actor_id is None

    def __call__(self) -> str:
        if not self.recording:
            # Nothing is stored, the items are only checked: a refused visitor may well
            # have no actor.
            return UNCHECKED_ACTOR
        if not self.resolved:
            self.actor_id = resolve_actor_id(self.request)
            self.resolved = True
        return self.actor_id or UNCHECKED_ACTOR


def _build_all(
    items: Iterable[Mapping[str, Any]],
    request_actor: Callable[[], str],
    shared: Mapping[str, Any] | None,
    destination: str,
) -> list[Trigger]:
    if isinstance(items, (str, bytes, Mapping)):
        raise TypeError(f"record_triggers() takes a list of dicts, not a {type(items).__name__}.")
    triggers = []
    for index, item in enumerate(items):
        try:
            triggers.append(_build_one(item, request_actor, shared, destination))
        except (TypeError, ValueError) as exc:
            # The plain class, whatever subclass was raised: its constructor is known.
            error = TypeError if isinstance(exc, TypeError) else ValueError
            raise error(f"Trigger {index}: {exc}") from exc
    return triggers


def _build_one(
    item: object,
    request_actor: Callable[[], str],
    shared: Mapping[str, Any] | None,
    destination: str,
) -> Trigger:
    if not isinstance(item, Mapping):
        raise TypeError(f"each trigger must be a dict, not {type(item).__name__}.")
    unknown = item.keys() - ITEM_KEYS
    if unknown:
        raise TypeError(f"unknown keys {sorted(unknown)}; allowed are {sorted(ITEM_KEYS)}.")
    missing = {"action", "obj"} - item.keys()
    if missing:
        raise TypeError(f"missing {' and '.join(sorted(missing))}.")
    actor_id = item.get("actor_id")
    return build_trigger(
        request_actor() if actor_id is None else validate_actor_id(actor_id),
        item["action"],
        item["obj"],
        _merged(shared, item.get("identities")),
        item.get("attributes"),
        item.get("variables"),
        destination=item.get("destination", destination),
    )


def _merged(shared: Mapping[str, Any] | None, own: Any) -> Any:
    """The request's identities with the item's own merged over them."""
    if not shared or own is None:
        return own or shared
    if not isinstance(own, Mapping):
        return own  # left for validation to reject, by name
    return {**shared, **own}
