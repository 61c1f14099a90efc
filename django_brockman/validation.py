"""Checks a trigger's fields at record time, so bad input fails where it was written."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

MAX_NAME_LENGTH = 255
SCALARS = (str, int, float, bool, type(None))


def validate_name(field: str, value: object) -> str:
    """Return *value* if it is a usable ``action`` or ``obj``; raise otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"{field} must be a str, not {type(value).__name__}.")
    if not value.strip():
        raise ValueError(f"{field} must not be empty.")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{field} is {len(value)} characters long; at most {MAX_NAME_LENGTH} are allowed."
        )
    return value


def validate_actor_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"actor_id must be a str or an int, not {type(value).__name__}.")
    actor_id = str(value)
    if not actor_id.strip():
        raise ValueError("actor_id must not be empty.")
    if len(actor_id) > MAX_NAME_LENGTH:
        raise ValueError(f"actor_id is longer than {MAX_NAME_LENGTH} characters.")
    return actor_id


def validate_mapping(field: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a plain dict copy of *value*, or raise naming the offending key.

    Values must be str, int, float, bool or None, or a list of those: what the
    FocusLab API accepts.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a dict, not {type(value).__name__}.")
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{field} keys must be str; got {key!r} ({type(key).__name__}).")
        if isinstance(item, (list, tuple)):
            for element in item:
                _check_scalar(field, key, element, in_list=True)
        else:
            _check_scalar(field, key, item, in_list=False)
    return {key: list(item) if isinstance(item, tuple) else item for key, item in value.items()}


def _check_scalar(field: str, key: str, value: object, *, in_list: bool) -> None:
    where = f"{field}[{key!r}]" + (" (in its list)" if in_list else "")
    if not isinstance(value, SCALARS):
        allowed = "str, int, float, bool or None" + ("" if in_list else ", or a list of those")
        raise TypeError(f"{where} is a {type(value).__name__}; it must be {allowed}.")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value!r}, which JSON cannot carry.")


def payload_size(fields: Mapping[str, Any]) -> int:
    """The size in bytes of the trigger's JSON payload."""
    return len(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())


def validate_size(fields: Mapping[str, Any], limit: int) -> None:
    size = payload_size(fields)
    if size > limit:
        raise ValueError(
            f"The trigger's payload is {size} bytes; BROCKMAN_MAX_PAYLOAD_BYTES allows {limit}."
        )
