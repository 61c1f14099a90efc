"""Record FocusLab analytics triggers in a transactional outbox and deliver them reliably."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ItemResult",
    "__version__",
    "arecord_trigger",
    "record_trigger",
    "record_triggers",
    "trigger_on",
]

if TYPE_CHECKING:
    from django_brockman.bulk import ItemResult, record_triggers
    from django_brockman.hooks import trigger_on
    from django_brockman.recording import arecord_trigger, record_trigger

# Each public name and the module that defines it.
_LAZY = {
    "ItemResult": "bulk",
    "arecord_trigger": "recording",
    "record_trigger": "recording",
    "record_triggers": "bulk",
    "trigger_on": "hooks",
}


def __getattr__(name: str) -> Any:
    # Imported lazily: the recording module needs the app registry, and Django
    # imports this package while it is still populating it.
    if name in _LAZY:
        return getattr(import_module(f"django_brockman.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'django_brockman' has no attribute {name!r}")
