"""A backend for tests: keep delivered triggers in ``django_brockman.backends.locmem.sent``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_brockman.backends.base import BaseBackend

if TYPE_CHECKING:
    from django_brockman.models import Trigger

#: Every trigger this backend delivered, in order, like ``django.core.mail.outbox``.
#: Clear it in tests with ``sent.clear()``.
sent: list[Trigger] = []


class LocmemBackend(BaseBackend):
    """Accept every trigger and append it to the module's ``sent`` list."""

    def send(self, trigger: Trigger) -> None:
        # list.append is atomic, so the flusher's delivery threads may share the list.
        sent.append(trigger)
