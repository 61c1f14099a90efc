"""trigger_on(): turn any Django signal into a recorded trigger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from django.dispatch import Signal
from django.http import HttpRequest

from django_brockman.destinations import DEFAULT, validate_destination
from django_brockman.payload import JSONMapping, TriggerArgs
from django_brockman.safe_recording import contained, record_in_savepoint

T = TypeVar("T")
#: A fixed value, or a callable that computes it from the signal's arguments
#: (``sender``, ``signal`` and whatever the signal sends, e.g. ``instance``).
Computed: TypeAlias = T | Callable[..., T]
Fields: TypeAlias = JSONMapping


@dataclass(frozen=True, eq=False)
class Hook:
    """A signal receiver that records one trigger each time the signal is sent."""

    signal: Signal
    sender: object
    dispatch_uid: str
    action: Computed[str]
    obj: Computed[str]
    actor_id: Computed[str | int | None] = None
    variables: Computed[Fields | None] = None
    identities: Computed[Fields | None] = None
    attributes: Computed[Fields | None] = None
    when: Callable[..., bool] | None = None
    destination: Computed[str] = DEFAULT

    def __call__(self, signal: Signal, sender: object, **kwargs: Any) -> None:
        kwargs.update(signal=signal, sender=sender)
        with contained(f"the signal hook {self.dispatch_uid!r}"):
            if self.when is not None and not self.when(**kwargs):
                return
            request = kwargs.get("request")
            record_in_savepoint(
                request if isinstance(request, HttpRequest) else None, self.args(kwargs)
            )

    def args(self, kwargs: dict[str, Any]) -> TriggerArgs:
        """The trigger's fields, computed from the signal's arguments."""
        return TriggerArgs(
            action=_compute(self.action, kwargs),
            obj=_compute(self.obj, kwargs),
            actor_id=_compute(self.actor_id, kwargs),
            variables=_compute(self.variables, kwargs),
            identities=_compute(self.identities, kwargs),
            attributes=_compute(self.attributes, kwargs),
            destination=_compute(self.destination, kwargs),
        )

    def disconnect(self) -> bool:
        """Disconnect the hook from its signal; False if it was not connected."""
        return self.signal.disconnect(sender=self.sender, dispatch_uid=self.dispatch_uid)


def trigger_on(
    signal: Signal,
    *,
    action: Computed[str],
    obj: Computed[str],
    sender: object = None,
    actor_id: Computed[str | int | None] = None,
    variables: Computed[Fields | None] = None,
    identities: Computed[Fields | None] = None,
    attributes: Computed[Fields | None] = None,
    when: Callable[..., bool] | None = None,
    dispatch_uid: str | None = None,
    destination: Computed[str] = DEFAULT,
) -> Hook:
    """Record a trigger each time *signal* is sent (by *sender*, if given).

    Each field is a value or a callable taking the signal's keyword arguments. A
    ``request`` argument, when the signal sends one, is used as record_trigger's
    request; otherwise the trigger is recorded without one, so *actor_id* must give
    the actor. *when*, if given, decides from the same arguments whether to record.

    Call it in ``AppConfig.ready()``. The hook is held strongly (it would otherwise be
    garbage-collected at once) and connected under *dispatch_uid*, by default derived
    from *action* and *obj*, so calling it again with the same arguments connects
    nothing new.
    """
    if not callable(destination):
        # A fixed name is checked now, where the mistake was made.
        validate_destination(destination)
    uid = dispatch_uid or f"django_brockman:{_label(action)}:{_label(obj)}"
    hook = Hook(
        signal, sender, uid, action, obj, actor_id, variables, identities, attributes, when,
        destination,
    )  # fmt: skip
    signal.connect(hook, sender=sender, weak=False, dispatch_uid=hook.dispatch_uid)
    return hook


def _compute(value: Computed[T], kwargs: dict[str, Any]) -> T:
    return value(**kwargs) if callable(value) else value


def _label(value: object) -> str:
    if not callable(value):
        return str(value)
    code = getattr(value, "__code__", None)
    line = f":{code.co_firstlineno}" if code is not None else ""
    return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', value)}{line}"
