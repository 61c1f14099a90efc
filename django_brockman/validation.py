"""Checks a trigger's fields at record time, so that bad input fails where it was written,
and what one supported database cannot store, or would change, is refused on all of them.

The rules, each written once here:

- ``actor_id``, ``action``, ``obj``: non-blank text of at most 255 characters.
- The three dicts: str keys; values str, int, float, bool or None, or a list of those.
- No string (name, key or value) holds a NUL (PostgreSQL's text and jsonb refuse it) or a
  surrogate code point (no Unicode character: it cannot be encoded as UTF-8, and a pair
  of them comes back from every database as the one character they stand for).
- Integers fit in 64 bits: SQLite's and MariaDB's JSON functions read larger ones as
  floats. Floats are finite and below 1e16 in magnitude: PostgreSQL's jsonb reads larger
  ones back as integers. ``-0.0`` is stored as ``0.0`` (jsonb keeps no sign on zero).
- The body, as compact UTF-8 JSON, is at most BROCKMAN_MAX_PAYLOAD_BYTES.

Record_triggers runs these on every item, so the common case (plain str, int and float
values) is kept to one pass over each dict and one JSON encoding of the body.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django_brockman.payload import OPTIONAL_KEYS, TriggerData

MAX_NAME_LENGTH = 255
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
#: Floats must be smaller than this in magnitude.
FLOAT_LIMIT = 1e16

# Built once: json.dumps() with options builds an encoder on every call. The values are
# checked before they are encoded, so they hold no cycle to look for.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def trigger_data(
    actor_id: str,
    action: object,
    obj: object,
    identities: object = None,
    attributes: object = None,
    variables: object = None,
    *,
    max_bytes: int,
) -> TriggerData:
    """The checked TriggerData for these fields; raise TypeError or ValueError naming the
    field or key otherwise. *actor_id* has been through validate_actor_id() already."""
    data = TriggerData(
        actor_id,
        validate_name("action", action),
        validate_name("obj", obj),
        validate_mapping("identities", identities),
        validate_mapping("attributes", attributes),
        validate_mapping("variables", variables),
    )
    validate_size(data, max_bytes)
    return data


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
    # str() of a very long int is slow, and refused past 4300 digits: far longer than
    # 255 characters in any case.
    too_long = isinstance(value, int) and value.bit_length() > 4 * MAX_NAME_LENGTH
    actor_id = "" if too_long else str(value)
    if not too_long and not actor_id.strip():
        raise ValueError("actor_id must not be empty.")
    if too_long or len(actor_id) > MAX_NAME_LENGTH:
        raise ValueError(f"actor_id is longer than {MAX_NAME_LENGTH} characters.")
    return actor_id


def validate_mapping(field: str, value: object) -> dict[str, Any]:
    """Return a plain dict copy of *value* as it will be stored, or raise naming the key.

    Values must be str, int, float, bool or None, or a list (or tuple) of those: what
    the FocusLab API accepts. Tuples become lists, ``-0.0`` becomes ``0.0``. The strings'
    characters are checked with the whole body, by validate_size().
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a dict, not {type(value).__name__}.")
    checked = dict(value)
    for key, item in checked.items():
        if not isinstance(key, str):
            raise TypeError(f"{field} keys must be str; got {key!r} ({type(key).__name__}).")
        # Plain text and numbers, the common case, need nothing more here.
        kind = type(item)
        if kind is str or (kind is int and MIN_INT <= item <= MAX_INT):
            continue
        if kind is float and -FLOAT_LIMIT < item < FLOAT_LIMIT and item:
            continue
        checked[key] = _checked_value(field, key, item)
    return checked


def _checked_value(field: str, key: str, value: object) -> object:
    if isinstance(value, (list, tuple)):
        return [_checked_scalar(field, key, element, in_list=True) for element in value]
    return _checked_scalar(field, key, value, in_list=False)


def _checked_scalar(field: str, key: str, value: object, *, in_list: bool) -> object:
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if MIN_INT <= value <= MAX_INT:
            return value
        problem = f"is {_int_text(value)}, {_INT_RULE}"
    elif isinstance(value, float):
        # False for nan and both infinities too.
        if -FLOAT_LIMIT < value < FLOAT_LIMIT:
            return value or 0.0  # -0.0 is falsy: stored as 0.0 everywhere
        problem = f"is {value!r}{_float_rule(value)}"
    else:
        allowed = "str, int, float, bool or None" + ("" if in_list else ", or a list of those")
        raise TypeError(
            f"{_where(field, key, in_list=in_list)} is a {type(value).__name__}; "
            f"it must be {allowed}."
        )
    raise ValueError(f"{_where(field, key, in_list=in_list)} {problem}")


_INT_RULE = (
    "outside the 64-bit range (-2**63 to 2**63 - 1) that SQLite's and MariaDB's JSON "
    "functions read exactly; send it as a str."
)


def _int_text(value: int) -> str:
    # str() of a very long int is slow, and refused past 4300 digits.
    return str(value) if value.bit_length() <= 128 else f"an integer of {value.bit_length()} bits"


def _float_rule(value: float) -> str:
    if not math.isfinite(value):
        return ", which JSON cannot carry."
    return (
        f"; a float must be less than {FLOAT_LIMIT:g} in magnitude (PostgreSQL reads larger "
        "ones back as integers): send an int or a str."
    )


def _where(field: str, key: str, *, in_list: bool) -> str:
    return f"{field}[{key!r}]" + (" (in its list)" if in_list else "")


def payload_size(data: TriggerData) -> int:
    """The size in bytes of the trigger's body as compact UTF-8 JSON.

    Raise ValueError naming the field or key when a string in it holds a NUL or a
    surrogate: both show in the encoding, so the strings are read one by one only then.
    """
    text = _ENCODER.encode(data.body())
    # JSON writes a NUL as the six characters \u0000 (a string may also hold those six
    # characters themselves: then the search below finds nothing, and that is fine).
    if "\\u0000" in text and (error := unstorable_text(data)):
        raise error
    try:
        return len(text.encode())
    except UnicodeEncodeError as exc:  # a surrogate, which UTF-8 cannot encode
        raise (unstorable_text(data) or exc) from None


def validate_size(data: TriggerData, limit: int) -> None:
    size = payload_size(data)
    if size > limit:
        raise ValueError(
            f"The trigger's payload is {size} bytes; BROCKMAN_MAX_PAYLOAD_BYTES allows {limit}."
        )


def unstorable_text(data: TriggerData) -> ValueError | None:
    """The error for the first string of *data* that holds a NUL or a surrogate."""
    for where, text in _strings(data):
        if "\x00" in text:
            return ValueError(
                f"{where} contains a NUL character (\\x00), which PostgreSQL cannot store."
            )
        try:
            text.encode()
        except UnicodeEncodeError as exc:
            return ValueError(
                f"{where} contains the surrogate U+{ord(text[exc.start]):04X}, which is not a "
                "Unicode character and cannot be stored as it is."
            )
    return None


def _strings(data: TriggerData) -> list[tuple[str, str]]:
    found = [("actor_id", data.actor_id), ("action", data.action), ("obj", data.obj)]
    for _, field in OPTIONAL_KEYS:
        for key, value in getattr(data, field).items():
            found.append((f"a key of {field} ({key!r})", key))
            if isinstance(value, str):
                found.append((_where(field, key, in_list=False), value))
            elif isinstance(value, list):
                where = _where(field, key, in_list=True)
                found.extend((where, element) for element in value if isinstance(element, str))
    return found
