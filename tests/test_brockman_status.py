"""manage.py brockman_status: the health figures as text or JSON, and the --max-age check."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.utils import timezone

from django_brockman import counters
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


def add(status: str, age: float = 0.0, attempts: int = 0) -> None:
    created = timezone.now() - dt.timedelta(seconds=age)
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=status, attempts=attempts,
        created_at=created, updated_at=timezone.now(),
        next_attempt_at=timezone.now() + dt.timedelta(minutes=1),
    )  # fmt: skip
    with transaction.atomic():
        if status == Status.SENT:
            counters.add("default", timezone.now(), sent=1)
        elif status == Status.FAILED:
            counters.add("default", timezone.now(), failed=1, error="HTTP 400: no")


def outage(waiting: int = 3) -> None:
    """The receiver has been down for ten minutes: every attempt since failed."""
    Trigger.objects.create(
        actor_id="a", action="viewed", obj="page", status=Status.SENT,
        updated_at=timezone.now() - dt.timedelta(minutes=10),
    )  # fmt: skip
    for _ in range(waiting):
        add(Status.PENDING, attempts=1)
    with transaction.atomic():
        counters.add("default", timezone.now(), retried=waiting, error="connection refused")


def status(*args: str) -> str:
    out = io.StringIO()
    call_command("brockman_status", *args, stdout=out)
    return out.getvalue()


def test_status_prints_state_counts_oldest_and_last_24_hours() -> None:
    add(Status.PENDING, age=600)
    add(Status.SENT)
    add(Status.SENT)
    add(Status.FAILED)

    lines = status().splitlines()

    assert lines[0] == "Delivery: degraded (1 trigger failed in the last hour)."
    assert lines[1] == "Triggers: 1 pending, 0 sending, 1 failed; 0 waiting for a retry."
    assert lines[2] in (
        "Oldest undelivered: 600 seconds old.",
        "Oldest undelivered: 601 seconds old.",
    )
    assert lines[3].startswith("Last delivered: 20")
    assert lines[4].startswith("Latest error: HTTP 400: no (20")
    assert lines[5] == "Last 24 hours: 2 sent, 0 to retry, 1 failed."
    assert lines[6].startswith("Per hour (UTC), sent/failed attempts: ")
    assert lines[6].endswith("=2/1")


def test_status_json_has_the_same_figures() -> None:
    add(Status.PENDING, age=60)
    add(Status.SENT)

    figures = json.loads(status("--json"))

    assert figures["counts"] == {"pending": 1, "sending": 0, "failed": 0}
    assert 60 <= figures["oldest_pending_age_seconds"] < 70
    assert figures["sent_last_24h"] == 1
    assert figures["failed_last_24h"] == 0
    assert figures["state"] == "healthy"
    assert len(figures["per_hour"]) == 24


def test_status_fail_on_failing_exits_4_during_an_outage_after_printing() -> None:
    outage()
    out = io.StringIO()

    with pytest.raises(CommandError, match="Delivery is failing: nothing delivered") as caught:
        call_command("brockman_status", "--json", "--fail-on", "failing", stdout=out)

    assert caught.value.returncode == 4
    figures = json.loads(out.getvalue())
    assert figures["state"] == "failing"
    assert figures["waiting_retry"] == 3
    assert figures["latest_error"] == "connection refused"


def test_status_fail_on_degraded_includes_failing() -> None:
    outage()

    with pytest.raises(CommandError) as caught:
        status("--fail-on", "degraded")

    assert caught.value.returncode == 4


def test_status_fail_on_passes_when_the_state_is_better() -> None:
    add(Status.PENDING, attempts=1)
    add(Status.SENT)  # delivered since: degraded, not failing

    assert status("--fail-on", "failing").startswith("Delivery: degraded (1 trigger waits")


def test_status_fail_on_degraded_exits_on_a_degraded_state() -> None:
    add(Status.PENDING, attempts=1)
    add(Status.SENT)

    with pytest.raises(CommandError, match="Delivery is degraded: 1 trigger waits") as caught:
        status("--fail-on", "degraded")

    assert caught.value.returncode == 4


def test_status_fail_on_refuses_other_states() -> None:
    with pytest.raises(CommandError, match="invalid choice: 'healthy'"):
        status("--fail-on", "healthy")


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
