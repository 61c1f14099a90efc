"""Whatever validation accepts is stored and read back unchanged, on the database the
suite runs on (run it with BROCKMAN_TEST_DB=postgres and mariadb too): the same values,
of the same types, down to the sign of a float. Values are drawn at random, with the
edges of each rule (NUL, surrogates, 64-bit integers, 1e16, -0.0, nan) drawn often."""

from __future__ import annotations

import math
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from django_brockman.models import Trigger
from django_brockman.payload import TriggerData
from django_brockman.recording import new_row
from django_brockman.validation import trigger_data, validate_actor_id

pytestmark = pytest.mark.django_db

# Only what the rules accept: any code point but NUL and the surrogates, integers of 64
# bits, finite floats below 1e16 in magnitude (-0.0 included).
STORABLE_CHARACTERS = st.characters(
    codec=None, exclude_categories=("Cs",), exclude_characters="\x00"
)
STORABLE_TEXT = st.text(STORABLE_CHARACTERS, max_size=12) | st.sampled_from(["\\u0000"])
STORABLE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([2**63 - 1, -(2**63), -0.0, 9999999999999998.0, 5e-324])
    | st.floats(-1e16, 1e16, exclude_min=True, exclude_max=True, allow_nan=False)
    | STORABLE_TEXT
)
STORABLE_VALUES = STORABLE_SCALARS | st.lists(STORABLE_SCALARS, max_size=4)
STORABLE_DICTS = st.dictionaries(STORABLE_TEXT, STORABLE_VALUES, max_size=4)
STORABLE_NAMES = st.text(STORABLE_CHARACTERS, min_size=1, max_size=255).filter(str.strip)

# Anything: any code point (NUL and surrogates too), any int, any float, and the edges
# of each rule.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
EDGES = st.sampled_from(
    [
        *("\x00", "a\x00", "\ud800", "\udfff", "\ud83d\ude00", "", " ", "x" * 256),
        *(2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**53 + 1, 10**400),
        *(-0.0, 1e16, -1e16, 9999999999999998.0, 5e-324, math.nan, math.inf),
    ]
)
# The edges twice: a branch is picked about evenly, and they matter most.
ANYTHING = EDGES | EDGES | ANY_TEXT | st.integers() | st.floats()
PLACES = ["actor_id", "action", "obj", "key", "value", "element"]
DICT_FIELDS = ["identities", "attributes", "variables"]

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def storable_fields(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "actor_id": draw(st.integers(-(2**63), 2**63 - 1) | STORABLE_NAMES),
        "action": draw(STORABLE_NAMES),
        "obj": draw(STORABLE_NAMES),
        **{field: draw(STORABLE_DICTS) for field in DICT_FIELDS},
    }


@st.composite
def fields_with_one_probe(draw: st.DrawFn) -> dict[str, Any]:
    """Storable fields with one value drawn from anything, in one place."""
    fields = draw(storable_fields())
    probe = draw(ANYTHING)
    place = draw(st.sampled_from(PLACES))
    if place in fields:
        fields[place] = probe
    else:
        field = draw(st.sampled_from(DICT_FIELDS))
        added = {probe: 1} if place == "key" else {"p": probe if place == "value" else [probe]}
        fields[field] = {**fields[field], **added}
    return fields


def same(stored: Any, expected: Any) -> bool:
    """Equal, of the same type, and for floats with the same sign."""
    if type(stored) is not type(expected):
        return False
    if isinstance(expected, float):
        return stored == expected and math.copysign(1, stored) == math.copysign(1, expected)
    if isinstance(expected, dict):
        return stored.keys() == expected.keys() and all(
            same(stored[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return len(stored) == len(expected) and all(map(same, stored, expected))
    return bool(stored == expected)


def checked(fields: dict[str, Any]) -> TriggerData | None:
    try:
        actor_id = validate_actor_id(fields["actor_id"])
        return trigger_data(
            actor_id, *(fields[name] for name in ("action", "obj", *DICT_FIELDS)), max_bytes=32768
        )
    except (TypeError, ValueError):
        return None


@FAST
@given(fields_with_one_probe())
def test_what_validation_accepts_is_stored_and_read_back_unchanged(fields: dict[str, Any]) -> None:
    data = checked(fields)
    event("refused" if data is None else "stored")
    if data is not None:
        assert_round_trip(data, fields)


@FAST
@given(storable_fields())
def test_what_the_rules_allow_is_accepted_stored_and_read_back_unchanged(
    fields: dict[str, Any],
) -> None:
    data = checked(fields)

    assert data is not None
    assert_round_trip(data, fields)


def assert_round_trip(data: TriggerData, fields: dict[str, Any]) -> None:
    row = new_row(data)
    with transaction.atomic():
        row.save(force_insert=True)

    stored = Trigger.objects.get(pk=row.pk)
    for field in ("actor_id", "action", "obj", *DICT_FIELDS):
        assert same(getattr(stored, field), getattr(data, field)), field
    # And what validation kept equals what the caller passed.
    for field in DICT_FIELDS:
        assert getattr(data, field) == fields[field]
