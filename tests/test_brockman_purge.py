"""manage.py brockman_purge: options and output over purge()."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_brockman.models import Status, Trigger


def make(status: str, days: float, count: int = 1) -> None:
    updated_at = timezone.now() - timedelta(days=days)
    for _ in range(count):
        Trigger.objects.create(
            actor_id="actor", action="viewed", obj="page", status=status, updated_at=updated_at
        )


def purge(*args: str) -> str:
    out = StringIO()
    call_command("brockman_purge", *args, stdout=out)
    return out.getvalue()


def left() -> list[tuple[str, int]]:
    return sorted(
        (status, count)
        for status in Status.values
        if (count := Trigger.objects.filter(status=status).count())
    )


@pytest.mark.django_db
def test_purge_command_defaults_to_sent() -> None:
    make(Status.SENT, 31, 3)
    make(Status.FAILED, 31)
    make(Status.PENDING, 31)

    assert purge("--older-than", "30") == "Deleted 3 sent triggers.\n"
    assert left() == [(Status.FAILED, 1), (Status.PENDING, 1)]


@pytest.mark.django_db
def test_purge_command_status_failed() -> None:
    make(Status.SENT, 31)
    make(Status.FAILED, 31, 2)

    assert purge("--older-than", "30", "--status", "failed") == "Deleted 2 failed triggers.\n"
    assert left() == [(Status.SENT, 1)]


@pytest.mark.django_db
def test_purge_command_status_all_in_small_batches() -> None:
    make(Status.SENT, 2, 3)
    make(Status.FAILED, 2, 2)
    make(Status.SENT, 0.5)
    make(Status.SENDING, 9)

    output = purge("--older-than", "1.5", "--status", "all", "--batch-size", "2")

    assert output == "Deleted 5 sent and failed triggers.\n"
    assert left() == [(Status.SENDING, 1), (Status.SENT, 1)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--older-than"),
        (["--older-than", "-1"], "--older-than"),
        (["--older-than", "nan"], "--older-than"),
        (["--older-than", "99999999"], "--older-than"),
        (["--older-than", "3", "--status", "pending"], "--status"),
        (["--older-than", "3", "--batch-size", "0"], "--batch-size"),
    ],
)
def test_purge_command_refuses_bad_options(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        purge(*args)


def test_purge_command_unknown_database_is_exit_3() -> None:
    with pytest.raises(CommandError, match="'nope'") as raised:
        purge("--older-than", "3", "--database", "nope")

    assert raised.value.returncode == 3
