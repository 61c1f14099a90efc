"""The contract every transport backend meets."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_brockman.models import Trigger


class BaseBackend:
    """Deliver triggers one at a time.

    ``send()`` returns when the trigger was accepted and raises a
    :class:`~django_brockman.exceptions.FocusLabError` otherwise. A backend is used by one
    thread at a time; the flusher builds one per delivery thread. As with Django's mail
    backends it is a context manager that opens and closes its connection.
    """

    def __init__(self, **kwargs: Any) -> None:
        pass

    def open(self) -> None:
        """Acquire whatever the backend needs (a connection, a session)."""

    def close(self) -> None:
        """Release what open() acquired."""

    def __enter__(self) -> BaseBackend:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(self, trigger: Trigger) -> None:
        """Deliver *trigger*: return once it was accepted, raise a
        :class:`~django_brockman.exceptions.FocusLabError` otherwise (its status decides
        whether the trigger is retried, failed, or the run stops)."""
        raise NotImplementedError("Backends must implement send()")
