"""validation: what record_trigger accepts, and the errors that name the mistake."""

from __future__ import annotations

import datetime
import decimal
import json

import pytest

from django_brockman.payload import TriggerData
from django_brockman.validation import (
    payload_size,
    validate_actor_id,
    validate_mapping,
    validate_name,
    validate_size,
)


@pytest.mark.parametrize("value", ["viewed", "a" * 255, "blog post"])
def test_validate_name_accepts_strings(value: str) -> None:
    assert validate_name("action", value) == value


@pytest.mark.parametrize("value", [None, 1, b"viewed", ["viewed"]])
def test_validate_name_rejects_non_strings(value: object) -> None:
    with pytest.raises(TypeError, match="action must be a str"):
        validate_name("action", value)


@pytest.mark.parametrize("value", ["", "   "])
def test_validate_name_rejects_empty(value: str) -> None:
    with pytest.raises(ValueError, match="obj must not be empty"):
        validate_name("obj", value)


def test_validate_name_rejects_too_long() -> None:
    with pytest.raises(ValueError, match="256 characters long; at most 255"):
        validate_name("obj", "a" * 256)


def test_validate_mapping_accepts_allowed_values() -> None:
    value = {"s": "x", "i": 1, "f": 1.5, "b": True, "n": None, "l": ["a", 1, 2.0, False, None]}
    assert validate_mapping("variables", value) == value


def test_validate_mapping_turns_tuples_into_lists() -> None:
    assert validate_mapping("variables", {"t": ("a", "b")}) == {"t": ["a", "b"]}


def test_validate_mapping_returns_a_copy() -> None:
    original = {"a": 1}
    copy = validate_mapping("variables", original)
    copy["b"] = 2
    assert original == {"a": 1}


def test_validate_mapping_none_is_empty() -> None:
    assert validate_mapping("identities", None) == {}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"when": datetime.date(2024, 1, 1)}, r"variables\['when'\] is a date"),
        ({"price": decimal.Decimal("1.5")}, r"variables\['price'\] is a Decimal"),
        ({"nested": {"a": 1}}, r"variables\['nested'\] is a dict"),
        ({"deep": [[1]]}, r"variables\['deep'\] \(in its list\) is a list"),
        ({"obj": object()}, r"variables\['obj'\] is a object"),
        ({1: "x"}, r"variables keys must be str; got 1 \(int\)"),
    ],
)
def test_validate_mapping_names_the_offending_key(
    value: dict[object, object], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        validate_mapping("variables", value)  # type: ignore[arg-type]


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_validate_mapping_rejects_non_finite_floats(number: float) -> None:
    with pytest.raises(ValueError, match=r"variables\['x'\] is"):
        validate_mapping("variables", {"x": number})


def test_validate_mapping_rejects_non_mapping() -> None:
    with pytest.raises(TypeError, match="attributes must be a dict, not list"):
        validate_mapping("attributes", ["a"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"), [("abc", "abc"), (42, "42"), (10**254, "1" + "0" * 254)]
)
def test_validate_actor_id_accepts_str_and_int(value: str | int, expected: str) -> None:
    assert validate_actor_id(value) == expected


@pytest.mark.parametrize("value", [True, 1.5, None, b"x"])
def test_validate_actor_id_rejects_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="actor_id must be a str or an int"):
        validate_actor_id(value)


@pytest.mark.parametrize(
    "value", ["", " ", "x" * 256, 10**255, -(10**254), pytest.param(10**5000, id="huge")]
)
def test_validate_actor_id_rejects_empty_or_long(value: str | int) -> None:
    with pytest.raises(ValueError, match="actor_id"):
        validate_actor_id(value)


def test_validate_size_counts_utf8_bytes_of_the_body() -> None:
    data = TriggerData("a", "viewed", "page", variables={"t": "é" * 10})
    size = payload_size(data)
    assert size == len(json.dumps(data.body(), separators=(",", ":")).encode()) - 10 * 4
    validate_size(data, size)
    with pytest.raises(ValueError, match=f"{size} bytes; BROCKMAN_MAX_PAYLOAD_BYTES allows"):
        validate_size(data, size - 1)
