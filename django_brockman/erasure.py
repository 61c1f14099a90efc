"""forget_actor(): delete every stored trigger of one person, for an erasure request."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.db import router
from django.db.models import Q, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from django_brockman.models import Trigger, TriggerQuerySet

logger = logging.getLogger("django_brockman.erasure")

BATCH_SIZE = 500


@dataclass(frozen=True)
class Forgotten:
    """What forget_actor() did.

    ``deleted`` counts every row deleted. ``in_flight`` counts those among them that a
    running flusher had claimed at that moment: it may have sent them, or be sending
    them, and FocusLab may still receive them. Every other deleted trigger is never sent.
    """

    deleted: int = 0
    in_flight: int = 0


def forget_actor(
    actor_id: str | None = None,
    *,
    identities: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    batch_size: int = BATCH_SIZE,
    using: str | None = None,
) -> Forgotten:
    """Delete every trigger of *actor_id*, and every one with any of *identities*.

    *identities* maps identity keys to values (``{"email": "ada@example.com"}``), or is a
    list of such pairs to match several values of one key.

    Rows are deleted in batches of *batch_size*, each in its own short statement, so a
    large history neither holds long locks nor needs one long transaction. Nothing of
    the person is logged.
    """
    matches = _matching(actor_id, identities)
    # Read where the rows are deleted: a replica that lags would let fresh rows escape.
    alias = using or router.db_for_write(Trigger)
    triggers: TriggerQuerySet = Trigger.objects.using(alias)
    deleted = in_flight = 0
    while ids := list(triggers.filter(matches).values_list("pk", flat=True)[:batch_size]):
        batch = triggers.filter(pk__in=ids)
        # Rows not held by a flusher go first. Whatever a flusher holds, or claims
        # between the two statements, is left for the second, so it is counted as in
        # flight: the count can be too high, never too low.
        deleted += batch.not_held().delete()[0]
        held = batch.delete()[0]
        in_flight += held
        deleted += held
    logger.info("Forgot %d triggers, %d of them in flight.", deleted, in_flight)
    return Forgotten(deleted, in_flight)


def _matching(
    actor_id: str | None, identities: Mapping[str, str] | Iterable[tuple[str, str]] | None
) -> Q:
    pairs = list(identities.items() if isinstance(identities, Mapping) else identities or [])
    if actor_id is None and not pairs:
        raise ValueError("forget_actor() needs an actor_id or identities to match.")
    if actor_id is not None and (not isinstance(actor_id, str) or not actor_id):
        raise ValueError(f"actor_id must be a non-empty string, not {actor_id!r}.")
    matches = Q(actor_id=actor_id) if actor_id is not None else Q()
    for key, value in pairs:
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise ValueError(f"An identity to match must be a str key and value, not {key!r}.")
        matches |= _identity(key, value)
    return matches


def _identity(key: str, value: str) -> Q:
    # Compared as text (the Cast makes it a plain text comparison, not a JSON one), which
    # every database does alike; the key is quoted into a JSON path, so any key, even one
    # with "__", is matched literally.
    value_text = Cast(KeyTextTransform(key, "identities"), TextField())
    return Q(pk__in=Trigger.objects.alias(wanted=value_text).filter(wanted=value).values("pk"))
