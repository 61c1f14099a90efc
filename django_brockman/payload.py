"""A trigger's fields as one typed value: TriggerArgs as the caller wrote them, TriggerData
once checked, from the recording helpers down to the wire. No Django, no HTTP: the client,
the outbox and the helpers all speak it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A dict value on the wire: a string, a number, or a list of those (see the API contract).
JSONMapping = Mapping[str, Any]

# The destination of a trigger that names none (see django_brockman.destinations).
DEFAULT_DESTINATION = "default"

# Body keys of the optional dicts, in the order the reference client wrote them.
OPTIONAL_KEYS = (
    ("captured_identities", "identities"),
    ("captured_attributes", "attributes"),
    ("variables", "variables"),
)


@dataclass(frozen=True)
class TriggerArgs:
    """A trigger as the caller wrote it: record_trigger()'s arguments, not yet checked.

    The template tag and the signal hooks pass it down as one value; recording checks it
    into a TriggerData (see ``django_brockman.validation``). Without *actor_id*, the actor
    is the request's. *destination* names the BROCKMAN_DESTINATIONS entry that delivers
    it; it is not part of the trigger's data on the wire.
    """

    action: str
    obj: str
    identities: JSONMapping | None = None
    attributes: JSONMapping | None = None
    variables: JSONMapping | None = None
    actor_id: str | int | None = None
    destination: str = DEFAULT_DESTINATION


@dataclass(frozen=True)
class TriggerData:
    """A trigger's six fields, checked. ``obj`` is ``object`` on the wire."""

    actor_id: str
    action: str
    obj: str
    identities: JSONMapping = field(default_factory=dict)
    attributes: JSONMapping = field(default_factory=dict)
    variables: JSONMapping = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON body the API takes: the three strings, then each non-empty dict."""
        body: dict[str, Any] = {
            "actor_id": self.actor_id,
            "action": self.action,
            "object": self.obj,
        }
        for wire_key, attribute in OPTIONAL_KEYS:
            value = getattr(self, attribute)
            if value:
                body[wire_key] = dict(value)
        return body
