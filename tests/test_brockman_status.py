"""manage.py brockman_status: the health figures as text or JSON, and the --max-age check."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


def add(status: str, age: float = 0.0) -> None:
    created = timezone.now() - dt.timedelta(seconds=age)
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=status,
        created_at=created, updated_at=timezone.now(),
    )  # fmt: skip


def status(*args: str) -> str:
    out = io.StringIO()
    call_command("brockman_status", *args, stdout=out)
    return out.getvalue()


def test_status_prints_counts_oldest_and_last_24_hours() -> None:
    add(Status.PENDING, age=600)
    add(Status.SENT)
    add(Status.SENT)
    add(Status.FAILED)

    lines = status().splitlines()

    assert lines[0] == "Triggers: 1 pending, 0 sending, 1 failed."
    assert lines[1] in (
        "Oldest undelivered: 600 seconds old.",
        "Oldest undelivered: 601 seconds old.",
    )
    assert lines[2] == "Last 24 hours: 2 sent, 1 failed."
    assert lines[3].startswith("Sent per hour (UTC): ")
    assert lines[3].endswith("=2")


def test_status_json_has_the_same_figures() -> None:
    add(Status.PENDING, age=60)
    add(Status.SENT)

    figures = json.loads(status("--json"))

    assert figures["counts"] == {"pending": 1, "sending": 0, "failed": 0}
    assert 60 <= figures["oldest_pending_age_seconds"] < 70
    assert figures["sent_last_24h"] == 1
    assert figures["failed_last_24h"] == 0
    assert len(figures["sent_per_hour"]) == 24


def test_status_max_age_passes_when_the_oldest_is_younger() -> None:
    add(Status.PENDING, age=30)

    assert "Oldest undelivered: 30 seconds old." in status("--max-age", "300")


def test_status_max_age_passes_on_an_empty_outbox() -> None:
    assert "Oldest undelivered: none." in status("--max-age", "0")


def test_status_max_age_exits_1_when_the_oldest_is_older() -> None:
    add(Status.PENDING, age=900)

    with pytest.raises(CommandError, match="900 seconds old") as caught:
        status("--max-age", "300")

    assert caught.value.returncode == 1


def test_status_max_age_ignores_finished_triggers() -> None:
    add(Status.SENT, age=9000)
    add(Status.FAILED, age=9000)

    assert "Oldest undelivered: none." in status("--max-age", "60")


def test_status_max_age_must_not_be_negative() -> None:
    with pytest.raises(CommandError, match="must not be negative"):
        status("--max-age", "-1")
