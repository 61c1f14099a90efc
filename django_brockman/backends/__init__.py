"""Transports for delivering triggers, chosen by the BROCKMAN_BACKEND dotted path."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from django_brockman.backends.base import BaseBackend
from django_brockman.conf import conf

__all__ = ["BaseBackend", "get_backend"]


def get_backend(backend: str | None = None, **kwargs: Any) -> BaseBackend:
    """Build the backend named by *backend*, or by BROCKMAN_BACKEND."""
    klass: type[BaseBackend] = import_string(backend or conf.BACKEND)
    return klass(**kwargs)
