"""Backends the tests deliver through."""

from __future__ import annotations

from typing import ClassVar

from django_brockman.backends.base import BaseBackend
from django_brockman.models import Trigger


class ExplodingBackend(BaseBackend):
    """Raises a bug's exception for the trigger on "page 1", accepts the others."""

    sent: ClassVar[list[str]] = []

    def send(self, trigger: Trigger) -> None:
        if trigger.obj == "page 1":
            raise RuntimeError("bug in a backend")
        ExplodingBackend.sent.append(trigger.obj)
