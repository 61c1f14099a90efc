"""Recording from a template or a signal hook: errors raise under DEBUG, are logged otherwise."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.http import HttpRequest

from django_brockman.destinations import DEFAULT
from django_brockman.models import Trigger
from django_brockman.recording import record_trigger

logger = logging.getLogger("django_brockman.capture")


@contextmanager
def contained(where: str) -> Iterator[None]:
    """Let errors out under DEBUG, so the mistake is seen where it was made; in
    production log them instead, so analytics never breaks a page or a save."""
    try:
        yield
    except Exception:
        if settings.DEBUG:
            raise
        logger.exception("Recording a trigger from %s failed; nothing was recorded.", where)


def record_in_savepoint(
    request: HttpRequest | None,
    action: str,
    obj: str,
    *,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    actor_id: str | int | None = None,
    destination: str = DEFAULT,
) -> Trigger | None:
    """record_trigger(); inside a transaction, in a savepoint, so that a failed INSERT
    leaves the caller's transaction usable."""
    alias = router.db_for_write(Trigger)
    with _savepoint(alias):
        return record_trigger(
            request,
            action,
            obj,
            identities=identities,
            attributes=attributes,
            variables=variables,
            actor_id=actor_id,
            using=alias,
            destination=destination,
        )


def _savepoint(alias: str) -> AbstractContextManager[Any]:
    # Outside a transaction a failed INSERT harms nothing; inside one it would abort the
    # caller's transaction (on PostgreSQL) unless rolled back to a savepoint.
    if transaction.get_connection(alias).in_atomic_block:
        return transaction.atomic(using=alias)
    return nullcontext()
