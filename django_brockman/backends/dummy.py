"""A backend that accepts every trigger and drops it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django_brockman.backends.base import BaseBackend

if TYPE_CHECKING:
    from django_brockman.models import Trigger


class DummyBackend(BaseBackend):
    """Report every trigger as delivered and send nothing anywhere."""

    def send(self, trigger: Trigger) -> None:
        pass
