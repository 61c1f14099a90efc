"""run_flush(): the bounded flush behind the task-engine tasks."""

from __future__ import annotations

import json

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from requests import PreparedRequest

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger
from django_brockman.tasks import run_flush
from tests.clock import FakeClock
from tests.conftest import TRIGGER_URL


def record(count: int) -> None:
    for number in range(count):
        record_trigger(None, "viewed", f"page {number}", actor_id="actor-1")


@pytest.mark.django_db(transaction=True)
def test_run_flush_returns_json_counts(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201, json={})
    record(3)

    summary = run_flush()

    assert summary == {
        "claimed": 3,
        "sent": 3,
        "retried": 0,
        "failed": 0,
        "released": 0,
        "lost": 0,
        "interrupted": False,
    }
    assert json.loads(json.dumps(summary)) == summary
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_TASK_LIMIT=2, BROCKMAN_CONCURRENCY=1)
def test_run_flush_stops_at_task_limit(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201, json={})
    record(5)

    summary = run_flush()

    assert (summary["claimed"], summary["sent"]) == (2, 2)
    assert Trigger.objects.filter(status=Status.PENDING).count() == 3


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_TASK_MAX_SECONDS=1.0, BROCKMAN_BATCH_SIZE=1, BROCKMAN_CONCURRENCY=1)
def test_run_flush_stops_claiming_after_task_max_seconds(
    mocked_api: responses.RequestsMock,
) -> None:
    record(3)
    clock = FakeClock()  # started after the triggers were recorded: they are due

    def slow_accept(request: PreparedRequest) -> tuple[int, dict[str, str], str]:
        clock.advance(1.0)  # the whole budget: no second claim may follow
        return 201, {}, "{}"

    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=slow_accept)

    summary = run_flush(clock)

    assert (summary["claimed"], summary["sent"]) == (1, 1)
    assert Trigger.objects.filter(status=Status.PENDING).count() == 2


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_API_KEY="rejected-key-value")
def test_run_flush_rejected_key_raises_improperly_configured(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=401, body="no")
    record(1)

    with pytest.raises(ImproperlyConfigured, match="BROCKMAN_API_KEY") as info:
        run_flush()

    assert "rejected-key-value" not in str(info.value)
    trigger = Trigger.objects.get()
    assert (trigger.status, trigger.attempts) == (Status.PENDING, 0)


@pytest.mark.django_db
def test_run_flush_inside_transaction_raises_and_sends_nothing(
    mocked_api: responses.RequestsMock,
) -> None:
    # pytest-django runs this test inside a transaction, as a view would be.
    record(1)

    with pytest.raises(RuntimeError, match=r"transaction\.on_commit"):
        run_flush()

    assert len(mocked_api.calls) == 0
    assert Trigger.objects.get().status == Status.PENDING
