"""A missing outbox table (migrations not run) is one line that says to migrate."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client

from django_brockman.management.base import OutboxCommand
from django_brockman.models import DeliveryCount, Trigger
from django_brockman.unmigrated import (
    admin_view,
    is_missing_outbox_table,
    is_missing_table,
    migrate_hint,
)

ROOT = Path(__file__).resolve().parent.parent
HINT = "run `manage.py migrate django_brockman`"
CHANGELIST = "/admin/django_brockman/trigger/"
COMMANDS = [
    ["brockman_flush"],
    ["brockman_flush", "--dry-run"],
    ["brockman_flush", "--loop"],
    ["brockman_status"],
    ["brockman_status", "--json"],
    ["brockman_purge", "--older-than", "30"],
    ["brockman_forget", "--actor-id", "actor-1"],
]


# Django 6.1 renamed savepoint() to savepoint_create().
savepoint_create = getattr(transaction, "savepoint_create", None) or transaction.savepoint


def renamed_away(table: str) -> Iterator[None]:
    """*table* renamed away inside the test's transaction while the caller yields; put
    back by rolling back to a savepoint."""
    savepoint = savepoint_create()
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name
        cursor.execute(f"ALTER TABLE {quote(table)} RENAME TO {quote(table + '_away')}")
    try:
        yield
    finally:
        # Also clears PostgreSQL's aborted transaction after the failed query.
        transaction.savepoint_rollback(savepoint)


@pytest.fixture
def outbox_table_renamed(db: None) -> Iterator[None]:
    """The outbox table renamed away, inside the test's transaction; put back after."""
    if connection.vendor == "mysql":
        pytest.skip("RENAME TABLE commits on MariaDB; the subprocess test covers a bare database")
    yield from renamed_away(Trigger._meta.db_table)


def run_unmigrated(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command against a fresh SQLite file that no migration has touched."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "BROCKMAN_TEST_DB": "sqlite",
        "BROCKMAN_TEST_DB_NAME": str(tmp_path / "never-migrated.sqlite3"),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_command_on_an_unmigrated_database_prints_one_line(
    tmp_path: Path, argv: list[str]
) -> None:
    completed = run_unmigrated(tmp_path, *argv)

    assert completed.returncode == 3
    assert completed.stdout == ""
    [line] = completed.stderr.splitlines()
    assert HINT in line
    assert "django_brockman_trigger" in line


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_command_without_the_outbox_table_says_to_migrate(
    outbox_table_renamed: None, argv: list[str]
) -> None:
    with pytest.raises(CommandError, match="migrate django_brockman") as raised:
        call_command(*argv)

    assert raised.value.returncode == 3


@pytest.mark.parametrize("url", [CHANGELIST, CHANGELIST + "health/", CHANGELIST + "1/change/"])
def test_admin_without_the_outbox_table_says_to_migrate(
    admin_client: Client, outbox_table_renamed: None, url: str
) -> None:
    response = admin_client.get(url)

    assert (response.status_code, response["Location"]) == (302, "/admin/")
    [message] = [str(message) for message in get_messages(response.wsgi_request)]
    assert HINT in message


def test_missing_table_is_recognised_on_this_database(db: None) -> None:
    with (
        pytest.raises(DatabaseError) as raised,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 FROM brockman_no_such_table")

    assert is_missing_table(raised.value, "brockman_no_such_table")
    assert not is_missing_table(raised.value, "django_brockman_trigger")
    assert not is_missing_table(ValueError("no such table: brockman_no_such_table"), "x")


def test_other_database_errors_are_not_taken_for_a_missing_table() -> None:
    error = DatabaseError("syntax error at or near django_brockman_trigger")

    assert not is_missing_outbox_table(error)


def test_other_database_errors_keep_their_traceback_in_commands_and_the_admin() -> None:
    class Failing(OutboxCommand):
        def handle(self, *args: object, **options: object) -> None:
            raise DatabaseError("deadlock detected")

    def view(request: HttpRequest) -> HttpResponse:
        raise DatabaseError("deadlock detected")

    with pytest.raises(DatabaseError, match="deadlock"):
        call_command(Failing())
    with pytest.raises(DatabaseError, match="deadlock"):
        admin_view(view)(HttpRequest())


def test_hint_names_the_database_option_for_another_database() -> None:
    assert migrate_hint("default").endswith("run `manage.py migrate django_brockman`.")
    assert migrate_hint("outbox").endswith(
        "run `manage.py migrate django_brockman --database outbox`."
    )


@pytest.fixture
def counts_table_renamed(db: None) -> Iterator[None]:
    """The delivery counts' table renamed away, as after an upgrade whose migration
    (0003) has not run; put back after."""
    if connection.vendor == "mysql":
        pytest.skip("RENAME TABLE commits on MariaDB")
    yield from renamed_away(DeliveryCount._meta.db_table)


@pytest.mark.parametrize(
    "argv", [["brockman_status"], ["brockman_status", "--json"]], ids=" ".join
)
def test_command_without_the_counts_table_names_it_and_says_to_migrate(
    counts_table_renamed: None, argv: list[str]
) -> None:
    with pytest.raises(CommandError, match="migrate django_brockman") as raised:
        call_command(*argv)

    assert raised.value.returncode == 3
    assert DeliveryCount._meta.db_table in str(raised.value)


def test_health_page_without_the_counts_table_says_to_migrate(
    admin_client: Client, counts_table_renamed: None
) -> None:
    response = admin_client.get(CHANGELIST + "health/")

    assert (response.status_code, response["Location"]) == (302, "/admin/")
    [message] = [str(message) for message in get_messages(response.wsgi_request)]
    assert HINT in message
    assert DeliveryCount._meta.db_table in message


@pytest.mark.parametrize(
    "argv",
    [["brockman_flush"], ["brockman_status"], ["brockman_status", "--json"]],
    ids=" ".join,
)
def test_command_after_an_upgrade_not_migrated_prints_one_line(
    tmp_path: Path, argv: list[str]
) -> None:
    migrated = run_unmigrated(tmp_path, "migrate", "django_brockman", "0002")
    assert migrated.returncode == 0, migrated.stderr

    completed = run_unmigrated(tmp_path, *argv)

    assert completed.returncode == 3
    [line] = completed.stderr.splitlines()
    assert HINT in line
    assert DeliveryCount._meta.db_table in line
