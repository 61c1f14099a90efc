"""BROCKMAN_DESTINATIONS: named FocusLab projects, their fallbacks, checks and migration."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from django_brockman.checks import check_settings
from django_brockman.destinations import (
    DEFAULT,
    Destination,
    all_destinations,
    get_destination,
    validate_destination,
)

TWO = {
    "default": {},
    "eu": {"API_KEY": "eu-secret-key-0123", "ENDPOINT": "http://127.0.0.1:9/eu/", "TIMEOUT": 3},
}


def ids() -> list[str]:
    return [message.id for message in check_settings()]  # type: ignore[misc]


def test_destinations_absent_give_default_from_single_settings() -> None:
    (only,) = all_destinations().values()
    assert only == Destination(
        name=DEFAULT,
        api_key="test-api-key-0123456789",
        endpoint="https://focuslab.test/api/v1/",
        timeout=10.0,
        backend="django_brockman.backends.http.HttpBackend",
    )


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_destinations_default_inherits_settings_and_others_their_own_options() -> None:
    assert get_destination("default").api_key == "test-api-key-0123456789"
    eu = get_destination("eu")
    assert (eu.api_key, eu.endpoint, eu.timeout) == (
        "eu-secret-key-0123",
        "http://127.0.0.1:9/eu/",
        3.0,
    )


@override_settings(BROCKMAN_DESTINATIONS={"default": {}, "us": {"ENDPOINT": "https://us.test/"}})
def test_destinations_other_than_default_never_borrow_the_default_key() -> None:
    assert get_destination("us").api_key == ""


@override_settings(BROCKMAN_DESTINATIONS=TWO)
def test_destinations_repr_hides_the_key() -> None:
    assert "eu-secret-key-0123" not in repr(get_destination("eu"))
    assert "eu-secret-key-0123" not in repr(all_destinations())


@override_settings(BROCKMAN_DESTINATIONS=TWO)
@pytest.mark.parametrize("call", [get_destination, validate_destination])
def test_destinations_unknown_name_is_refused_naming_the_known(call: Any) -> None:
    with pytest.raises(ValueError, match=r"Unknown FocusLab destination 'us'.*'default', 'eu'"):
        call("us")


def test_destinations_name_must_be_text() -> None:
    with pytest.raises(TypeError, match="destination must be a str, not int"):
        validate_destination(1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TWO, []),
        ({"eu": {}}, ["brockman.E050"]),
        (["default"], ["brockman.E050"]),
        ({"default": {}, "e u": {}}, ["brockman.E051"]),
        ({"default": {}, "x" * 65: {}}, ["brockman.E051"]),
        ({"default": {"APIKEY": "typo"}}, ["brockman.E052"]),
        ({"default": "https://focuslab.test/"}, ["brockman.E052"]),
    ],
)
def test_check_destinations(value: object, expected: list[str]) -> None:
    with override_settings(BROCKMAN_DESTINATIONS=value):
        assert ids() == expected


@override_settings(
    BROCKMAN_DESTINATIONS={"default": {"API_KEY": "destination-secret-4242"}, "x y": {}}
)
def test_check_destinations_messages_never_show_a_key() -> None:
    assert all("destination-secret-4242" not in str(message) for message in check_settings())


def _filenode() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_filenode('django_brockman_trigger')")
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="checks PostgreSQL's storage")
def test_destination_migration_rewrites_no_table_on_postgresql() -> None:
    """A rewrite gives the table a new file; adding a column with a constant default
    must not, so the migration is safe on a large live table."""
    executor = MigrationExecutor(connection)
    before, after = (
        ("django_brockman", "0002_queue_index"),
        ("django_brockman", "0003_trigger_destination"),
    )
    executor.migrate([before])
    try:
        node = _filenode()
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        assert _filenode() == node
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes("django_brockman"))
