"""A backend that accepts every trigger at once: the flusher's own cost, without HTTP."""

from __future__ import annotations

from django_brockman.backends.base import BaseBackend
from django_brockman.models import Trigger


class NullBackend(BaseBackend):
    def send(self, trigger: Trigger) -> None:
        pass
