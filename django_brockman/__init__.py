"""Record FocusLab analytics triggers in a transactional outbox and deliver them reliably."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "record_trigger"]

if TYPE_CHECKING:
    from django_brockman.recording import record_trigger


def __getattr__(name: str) -> Any:
    # Imported lazily: the recording module needs the app registry, and Django
    # imports this package while it is still populating it.
    if name in __all__:
        from django_brockman import recording

        return getattr(recording, name)
    raise AttributeError(f"module 'django_brockman' has no attribute {name!r}")
