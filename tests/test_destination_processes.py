"""Two destinations, real brockman_flush processes, two real receivers: one destination's
key is rejected, and the other is delivered in full, each trigger exactly once.

Runs on whatever database BROCKMAN_TEST_DB selects (the issue asks for PostgreSQL)."""

from __future__ import annotations

from collections import Counter

import pytest

from django_brockman.models import Status, Trigger
from django_brockman.receiver import Receiver
from tests.processes import API_KEY, command_env, run, start

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

FAST = {"TIMEOUT": 1.0, "LEASE_SECONDS": 5.0, "RETRY_BASE_SECONDS": 0.05, "RETRY_CAP_SECONDS": 0.5}


def make(count: int, destination: str) -> set[str]:
    rows = Trigger.objects.bulk_create(
        Trigger(
            actor_id=f"actor-{n % 31}", action="viewed", obj=f"page {n}", destination=destination
        )
        for n in range(count)
    )
    return {str(row.uuid) for row in rows}


def test_rejected_destination_stops_alone_while_the_other_is_fully_delivered() -> None:
    flushers, concurrency = 3, 2
    home_keys = make(600, "default")
    eu_keys = make(300, "eu")
    with Receiver(api_key=API_KEY) as home, Receiver(api_key="the-eu-project-key") as eu:
        destinations = {
            "default": {},
            "eu": {"API_KEY": "an-old-revoked-eu-key", "ENDPOINT": eu.url, "TIMEOUT": 1.0},
        }
        env = command_env(home.url, DESTINATIONS=destinations, **FAST)
        processes = [
            start(
                "brockman_flush", "--batch-size", "20", "--concurrency", str(concurrency), env=env
            )
            for _ in range(flushers)
        ]
        outputs: list[tuple[int, str, str]] = []
        try:
            for process in processes:
                stdout, stderr = process.communicate(timeout=240)
                outputs.append((process.returncode, stdout, stderr))
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.communicate()
        received = Counter(home.idempotency_keys())
        eu_received, eu_rejected = eu.idempotency_keys(), eu.rejected

    # The default destination: every trigger, each exactly once.
    assert set(received) == home_keys
    assert max(received.values()) == 1
    assert set(
        Trigger.objects.filter(destination="default").values_list("status", "attempts")
    ) == {(Status.SENT, 1)}
    # The refused one: nothing accepted; at most the requests in flight when the first
    # 401 came back; its rows pending, unspent and free for the next run.
    assert eu_received == []
    assert 1 <= len(eu_rejected) <= flushers * concurrency
    assert {rejection.status for rejection in eu_rejected} == {401}
    eu_rows = Trigger.objects.filter(destination="eu")
    assert set(eu_rows.values_list("status", "attempts", "claim_token")) == {
        (Status.PENDING, 0, None)
    }
    assert {str(key) for key in eu_rows.values_list("uuid", flat=True)} == eu_keys
    # Each flusher that met the refusal says which destination, and exits 3; none shows
    # a key.
    for returncode, stdout, stderr in outputs:
        assert returncode in (0, 3), stderr
        assert "an-old-revoked-eu-key" not in stdout + stderr
        if returncode == 3:
            assert "FocusLab refused the destination 'eu'" in stderr
    assert any(returncode == 3 for returncode, _, _ in outputs)


def test_destination_option_in_a_real_process_delivers_only_that_destination() -> None:
    make(20, "default")
    eu_keys = make(20, "eu")
    with Receiver(api_key=API_KEY) as home, Receiver(api_key="the-eu-project-key") as eu:
        destinations = {"default": {}, "eu": {"API_KEY": "the-eu-project-key", "ENDPOINT": eu.url}}
        env = command_env(home.url, DESTINATIONS=destinations, **FAST)
        process = run("brockman_flush", "--destination", "eu", env=env)
        assert process.returncode == 0, process.stderr
        assert set(eu.idempotency_keys()) == eu_keys
        assert home.idempotency_keys() == []
    assert sorted(Trigger.objects.values_list("destination", "status").distinct()) == [
        ("default", Status.PENDING),
        ("eu", Status.SENT),
    ]
