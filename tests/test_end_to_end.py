"""End to end: brockman_flush in its own process delivers to a real local HTTP receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from django_brockman import record_trigger, record_triggers
from django_brockman.models import Status, Trigger
from django_brockman.receiver import Faults, Receiver

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "e2e-secret-key"


def run_flush(
    receiver_url: str, *args: str, api_key: str = API_KEY
) -> subprocess.CompletedProcess[str]:
    """Run ``brockman_flush`` in a new process against this test's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "BROCKMAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "BROCKMAN_API_KEY": api_key,
        "BROCKMAN_ENDPOINT": receiver_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "django", "brockman_flush", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_flush_delivers_recorded_triggers_over_http() -> None:
    first = record_trigger(None, "viewed", "home page", actor_id="actor-1")
    second = record_trigger(
        None,
        "purchased",
        "order",
        actor_id="actor-2",
        identities={"email": "ada@example.com"},
        variables={"total": 9.5, "skus": ["a", "b"]},
    )

    # Strict: the reference client's wire, so an empty dict sent by ours would be a 400.
    with Receiver(api_key=API_KEY, strict=True) as receiver:
        # One request at a time, so the receiver sees them oldest first.
        completed = run_flush(receiver.url, "--concurrency", "1")
        received = receiver.received

    assert completed.returncode == 0, completed.stderr
    assert "2 sent, 0 to retry, 0 failed" in completed.stdout
    assert [item.idempotency_key for item in received] == [str(first.uuid), str(second.uuid)]
    assert received[0].raw == (
        b'{"actor_id": "actor-1", "action": "viewed", "object": "home page"}'
    )
    # The body's own keys keep the reference client's order; inside a dict, the order is
    # the database's (PostgreSQL's jsonb sorts keys), which JSON gives no meaning.
    assert list(json.loads(received[1].raw)) == [
        "actor_id",
        "action",
        "object",
        "captured_identities",
        "variables",
    ]
    assert received[1].body == {
        "actor_id": "actor-2",
        "action": "purchased",
        "object": "order",
        "captured_identities": {"email": "ada@example.com"},
        "variables": {"total": 9.5, "skus": ["a", "b"]},
    }
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db(transaction=True)
def test_flush_with_wrong_key_exits_3_and_keeps_triggers_pending() -> None:
    record_trigger(None, "viewed", "home page", actor_id="actor-1")

    with Receiver(api_key=API_KEY) as receiver:
        completed = run_flush(receiver.url, api_key="wrong-key-value")
        assert receiver.count == 0

    assert completed.returncode == 3
    assert "BROCKMAN_API_KEY" in completed.stderr
    assert "wrong-key-value" not in completed.stdout + completed.stderr
    trigger = Trigger.objects.get()
    assert (trigger.status, trigger.attempts) == (Status.PENDING, 0)


@pytest.mark.django_db(transaction=True)
def test_flush_with_threads_sends_each_trigger_once_and_writes_every_result_back() -> None:
    record_triggers(
        None, [{"action": "viewed", "obj": f"page {n}", "actor_id": "a1"} for n in range(200)]
    )

    with Receiver(api_key=API_KEY, faults=Faults(error_rate=0.2, seed=7)) as receiver:
        completed = run_flush(receiver.url, "--concurrency", "8", "--batch-size", "25")
        keys = receiver.idempotency_keys()
        faulted = len(receiver.faulted)

    assert completed.returncode == 0, completed.stderr
    sent = {
        str(key)
        for key in Trigger.objects.filter(status=Status.SENT).values_list("uuid", flat=True)
    }
    unsent = Trigger.objects.exclude(status=Status.SENT)
    # Each trigger was accepted at most once, and every request's outcome was written
    # back: the attempts counted in the table are the requests the receiver answered.
    assert len(keys) == len(set(keys)) == len(sent)
    assert set(keys) == sent
    assert faulted > 0
    assert sum(Trigger.objects.values_list("attempts", flat=True)) == len(keys) + faulted
    assert {row.status for row in unsent} <= {Status.PENDING}
    assert all("HTTP 50" in row.last_error for row in unsent)
    assert f"{len(sent)} sent, {faulted} to retry, 0 failed" in completed.stdout
