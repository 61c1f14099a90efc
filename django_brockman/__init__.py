"""Record FocusLab analytics triggers in a transactional outbox and deliver them reliably."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "record_trigger", "record_triggers"]

if TYPE_CHECKING:
    from django_brockman.bulk import record_triggers
    from django_brockman.recording import record_trigger

# Where each lazily imported name lives.
_LAZY = {"record_trigger": "recording", "record_triggers": "bulk"}


def __getattr__(name: str) -> Any:
    # Imported lazily: the recording module needs the app registry, and Django
    # imports this package while it is still populating it.
    if name in _LAZY:
        module = importlib.import_module(f"django_brockman.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'django_brockman' has no attribute {name!r}")
