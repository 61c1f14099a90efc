"""manage.py brockman_flush in-process: its options, outcomes, summary and exit status."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from django_brockman import record_trigger, signals
from django_brockman.models import Status, Trigger
from tests.conftest import TRIGGER_URL

pytestmark = pytest.mark.django_db


def flush(*args: str) -> str:
    out = StringIO()
    call_command("brockman_flush", "--concurrency", "1", *args, stdout=out)
    return out.getvalue()


def record(count: int = 1) -> list[Trigger]:
    return [record_trigger(None, "viewed", f"page {n}", actor_id="a1") for n in range(count)]


def test_flush_dry_run_counts_due_and_sends_nothing(
    mocked_api: responses.RequestsMock,
) -> None:
    record(2)

    output = flush("--dry-run")

    assert output == "2 triggers are due; none was sent.\n"
    assert len(mocked_api.calls) == 0
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.PENDING}


def test_flush_retry_failed_requeues_then_delivers(mocked_api: responses.RequestsMock) -> None:
    [trigger] = record()
    Trigger.objects.update(status=Status.FAILED, attempts=15, last_error="HTTP 400")
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    output = flush("--retry-failed")

    assert output.splitlines() == [
        "Requeued 1 failed triggers.",
        "Flushed: 1 sent, 0 to retry, 0 failed.",
    ]
    trigger.refresh_from_db()
    assert (trigger.status, trigger.attempts, trigger.last_error) == (Status.SENT, 1, "")


def test_flush_limit_claims_only_that_many(mocked_api: responses.RequestsMock) -> None:
    record(3)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    output = flush("--limit", "2", "--max-seconds", "60")

    assert "2 sent, 0 to retry, 0 failed" in output
    assert Trigger.objects.filter(status=Status.PENDING).count() == 1


def test_flush_server_error_schedules_a_retry(mocked_api: responses.RequestsMock) -> None:
    [trigger] = record()
    mocked_api.add(responses.POST, TRIGGER_URL, status=503, body="try later")
    started = timezone.now()

    output = flush()

    assert "0 sent, 1 to retry, 0 failed" in output
    trigger.refresh_from_db()
    assert (trigger.status, trigger.attempts, trigger.claim_token) == (Status.PENDING, 1, None)
    assert trigger.next_attempt_at >= started
    assert "HTTP 503" in trigger.last_error


def test_flush_rejected_trigger_fails_and_sends_trigger_failed(
    mocked_api: responses.RequestsMock,
) -> None:
    [trigger] = record()
    mocked_api.add(responses.POST, TRIGGER_URL, status=400, body="bad trigger")
    failed: list[dict[str, Any]] = []
    signals.trigger_failed.connect(
        lambda sender, **kwargs: failed.append(kwargs), weak=False, dispatch_uid="test"
    )

    try:
        output = flush()
    finally:
        signals.trigger_failed.disconnect(dispatch_uid="test")

    assert "0 sent, 0 to retry, 1 failed" in output
    trigger.refresh_from_db()
    assert (trigger.status, trigger.attempts) == (Status.FAILED, 1)
    assert [(item["trigger"].pk, item["error"]) for item in failed] == [
        (trigger.pk, trigger.last_error)
    ]
    assert "HTTP 400" in trigger.last_error


def test_flush_sends_trigger_sent_for_each_delivered(mocked_api: responses.RequestsMock) -> None:
    triggers = record(2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    sent: list[Trigger] = []
    signals.trigger_sent.connect(
        lambda sender, **kwargs: sent.append(kwargs["trigger"]), weak=False
    )

    try:
        flush()
    finally:
        signals.trigger_sent.receivers.clear()

    assert sorted(trigger.pk for trigger in sent) == sorted(trigger.pk for trigger in triggers)
    assert {trigger.status for trigger in sent} == {Status.SENT}


@override_settings(BROCKMAN_API_KEY="")
def test_flush_without_api_key_exits_3() -> None:
    record()

    with pytest.raises(CommandError, match="BROCKMAN_API_KEY is not set") as raised:
        flush()

    assert raised.value.returncode == 3
    assert Trigger.objects.get().status == Status.PENDING


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--limit", "0", "must be at least 1, got 0"),
        ("--concurrency", "-2", "must be at least 1, got -2"),
        ("--max-seconds", "0", "must be more than 0, got 0.0"),
        ("--interval", "-1", "must be more than 0, got -1.0"),
    ],
)
def test_flush_refuses_non_positive_options(option: str, value: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("brockman_flush", option, value)
