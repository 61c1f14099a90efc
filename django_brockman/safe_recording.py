"""Recording from a template or a signal hook, where a mistake must not break the page or
the save: errors raise under DEBUG and are logged otherwise, and inside a transaction the
row is written in a savepoint."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from django.conf import settings
from django.db import router, transaction
from django.http import HttpRequest

from django_brockman.models import Trigger
from django_brockman.payload import TriggerArgs
from django_brockman.recording import record

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


def record_in_savepoint(request: HttpRequest | None, args: TriggerArgs) -> Trigger | None:
    """record_trigger(); inside a transaction, in a savepoint, so that a failed INSERT
    leaves the caller's transaction usable."""
    alias = router.db_for_write(Trigger)
    with _savepoint(alias):
        return record(request, args, using=alias)


def _savepoint(alias: str) -> AbstractContextManager[Any]:
    # Outside a transaction a failed INSERT harms nothing; inside one it would abort the
    # caller's transaction (on PostgreSQL) unless rolled back to a savepoint.
    if transaction.get_connection(alias).in_atomic_block:
        return transaction.atomic(using=alias)
    return nullcontext()
