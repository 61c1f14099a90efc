"""record_triggers(): check many triggers, then write them in a few INSERTs: all of them or
none (the default), or every good one with a result per item (``partial=True``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

from django.db import router
from django.http import HttpRequest

from django_brockman.callables import CallableFailed
from django_brockman.conf import conf
from django_brockman.consent import may_record
from django_brockman.destinations import DEFAULT, validate_destination
from django_brockman.identities import request_identities
from django_brockman.models import Trigger
from django_brockman.recording import UNCHECKED_ACTOR, after_save, new_row, resolve_actor_id
from django_brockman.validation import trigger_data, validate_actor_id

#: The keys an item may have: record_trigger's arguments, less *request* and *using*.
ITEM_KEYS = frozenset(
    {"action", "obj", "actor_id", "identities", "attributes", "variables", "destination"}
)
REQUIRED_KEYS = frozenset({"action", "obj"})

#: What every item shares: the request's identities, and the call's destination.
Shared = tuple[Mapping[str, Any] | None, str]

#: What checking one item gives: its unsaved row, or the error that names it.
Checked = Trigger | TypeError | ValueError


@dataclass(frozen=True)
class ItemResult:
    """What ``record_triggers(..., partial=True)`` did with one item.

    *stored* is True when the item's row was written; *trigger* is that row. *error* is
    the TypeError or ValueError that refused the item (its message starts with
    ``Trigger <index>:``), or None: an item that was neither stored nor refused was
    valid, but nothing was recorded: recording is off, the request's consent was
    refused, a site callable raised in production, or an item needed the request's
    actor and it had none.
    """

    stored: bool
    trigger: Trigger | None = None
    error: TypeError | ValueError | None = None


@overload
def record_triggers(
    request: HttpRequest | None,
    items: Iterable[Mapping[str, Any]],
    *,
    using: str | None = ...,
    partial: Literal[False] = ...,
    destination: str = ...,
) -> list[Trigger]: ...


@overload
def record_triggers(
    request: HttpRequest | None,
    items: Iterable[Mapping[str, Any]],
    *,
    using: str | None = ...,
    partial: Literal[True],
    destination: str = ...,
) -> list[ItemResult]: ...


def record_triggers(
    request: HttpRequest | None,
    items: Iterable[Mapping[str, Any]],
    *,
    using: str | None = None,
    partial: bool = False,
    destination: str = DEFAULT,
) -> list[Trigger] | list[ItemResult]:
    """Record many triggers with ``bulk_create``: for backfills and imports.

    Each item is a dict of record_trigger's arguments (``action``, ``obj``, optionally
    ``actor_id``, ``identities``, ``attributes``, ``variables``, ``destination``); an
    item without ``actor_id`` takes the request's actor, one without ``destination``
    goes to *destination* (unknown: ValueError at once, in either mode). Every item is
    checked as record_trigger() checks it before anything is written, then the rows are
    written in one ``bulk_create`` inside the caller's transaction.

    By default it is all or nothing: a bad item raises TypeError or ValueError naming its
    index and nothing is stored; the stored Triggers are returned. With ``partial=True``
    every good item is stored and an ItemResult is returned per item, in input order.

    As with record_trigger(), BROCKMAN_IDENTITIES' identities for *request* are merged
    under each item's, and nothing is stored (after the items were checked) when
    BROCKMAN_ENABLED is False, BROCKMAN_CONSENT refuses *request*, a site callable
    raised in production, or an item needs the request's actor and it has none (logged).
    """
    common = validate_destination(destination)
    recording, shared = _recording_and_identities(request)
    request_actor = RequestActor(request, recording)
    checked = _check_all(items, request_actor, (shared, common), stop_at_error=not partial)
    stored = recording and not request_actor.missing
    rows = [row for row in checked if isinstance(row, Trigger)] if stored else []
    if rows:
        alias = using or router.db_for_write(Trigger)
        # bulk_create is atomic: a database error part way stores none of the rows.
        Trigger.objects.using(alias).bulk_create(rows)
        after_save(rows, alias)
    if not partial:
        return rows
    return [_result(row, stored=stored) for row in checked]


def _recording_and_identities(
    request: HttpRequest | None,
) -> tuple[bool, Mapping[str, Any] | None]:
    if not may_record(request):
        return False, None
    try:
        # Asked once: the identities of one request are the same for every item.
        return True, request_identities(request)
    except CallableFailed:
        return False, None


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


def _result(checked: Checked, *, stored: bool) -> ItemResult:
    if isinstance(checked, Trigger):
        return ItemResult(stored, checked if stored else None)
    return ItemResult(False, error=checked)


def _check_all(
    items: Iterable[Mapping[str, Any]],
    request_actor: Callable[[], str],
    shared: Shared,
    *,
    stop_at_error: bool,
) -> list[Checked]:
    if isinstance(items, (str, bytes, Mapping)):
        raise TypeError(f"record_triggers() takes a list of dicts, not a {type(items).__name__}.")
    max_bytes = conf.MAX_PAYLOAD_BYTES
    checked: list[Checked] = []
    for index, item in enumerate(items):
        try:
            checked.append(_check_one(item, request_actor, shared, max_bytes))
        except (TypeError, ValueError) as exc:
            # The plain class, whatever subclass was raised: its constructor is known.
            error = (TypeError if isinstance(exc, TypeError) else ValueError)(
                f"Trigger {index}: {exc}"
            )
            if stop_at_error:
                raise error from exc
            error.__cause__ = exc
            checked.append(error)
    return checked


def _check_one(
    item: object,
    request_actor: Callable[[], str],
    shared: Shared,
    max_bytes: int,
) -> Trigger:
    if not isinstance(item, Mapping):
        raise TypeError(f"each trigger must be a dict, not {type(item).__name__}.")
    keys = item.keys()
    if not (REQUIRED_KEYS <= keys <= ITEM_KEYS):
        _refuse_keys(keys)
    identities, destination = shared
    actor_id = item.get("actor_id")
    return new_row(
        trigger_data(
            request_actor() if actor_id is None else validate_actor_id(actor_id),
            item["action"],
            item["obj"],
            _merged(identities, item.get("identities")),
            item.get("attributes"),
            item.get("variables"),
            max_bytes=max_bytes,
        ),
        validate_destination(item.get("destination", destination)),
    )


def _refuse_keys(keys: Iterable[str]) -> None:
    unknown = set(keys) - ITEM_KEYS
    if unknown:
        raise TypeError(f"unknown keys {sorted(unknown)}; allowed are {sorted(ITEM_KEYS)}.")
    missing = REQUIRED_KEYS - set(keys)
    raise TypeError(f"missing {' and '.join(sorted(missing))}.")


def _merged(shared: Mapping[str, Any] | None, own: Any) -> Any:
    """The request's identities with the item's own merged over them."""
    if own is None:
        return shared
    if not shared or not isinstance(own, Mapping):
        return own  # a value that is not a dict, even a falsy one, is left for validation
    return {**shared, **own}
