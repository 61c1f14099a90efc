"""Real brockman_flush processes against the real receiver: concurrency, crashes, faults.

They run on whatever database BROCKMAN_TEST_DB selects: SKIP LOCKED claims on PostgreSQL
and MariaDB, conditional UPDATE claims on SQLite.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from django.utils import timezone

from django_brockman.models import Status, Trigger
from django_brockman.receiver import Faults, Receiver
from tests.processes import API_KEY, command_env, run, sent_count, start

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]

# Short timeouts, leases and backoff, so that retries and lease expiry take seconds.
FAST = {"TIMEOUT": 1.0, "LEASE_SECONDS": 5.0, "RETRY_BASE_SECONDS": 0.05, "RETRY_CAP_SECONDS": 0.5}

# Only an injected fault may cost an attempt, so a plain 201 must arrive within the
# client's timeout even on a loaded machine: one that came after it would be retried and
# received twice (a timed-out request is repeated; its Idempotency-Key is what tells).
# 1 s leaves that to luck on a loaded machine; the slow fault stays later than the timeout.
UNDER_FAULTS = {**FAST, "TIMEOUT": 3.0, "LEASE_SECONDS": 15.0}


def make_triggers(count: int) -> set[str]:
    """Record *count* triggers; their Idempotency-Keys."""
    rows = Trigger.objects.bulk_create(
        Trigger(actor_id=f"actor-{n % 97}", action="viewed", obj=f"page {n}") for n in range(count)
    )
    return {str(row.uuid) for row in rows}


def finish(processes: list[subprocess.Popen[str]], timeout: float = 240) -> list[str]:
    """Wait for every process; their stdout. Kill what outlives *timeout*."""
    outputs = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            assert process.returncode == 0, stderr
            outputs.append(stdout)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return outputs


def statuses() -> Counter[str]:
    return Counter(Trigger.objects.values_list("status", flat=True))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(api_key=API_KEY) as running:
        yield running


def test_flushers_drain_backlog_each_trigger_once(receiver: Receiver) -> None:
    count = 2000
    flushers = 4
    keys = make_triggers(count)
    env = command_env(receiver.url, **FAST)

    processes = [
        start("brockman_flush", "--batch-size", "25", "--concurrency", "2", env=env)
        for _ in range(flushers)
    ]
    outputs = finish(processes)

    received = Counter(receiver.idempotency_keys())
    assert set(received) == keys
    assert max(received.values()) == 1
    assert receiver.rejected == []
    assert statuses() == {Status.SENT: count}
    assert set(Trigger.objects.values_list("attempts", flat=True)) == {1}
    sent = [sent_count(output) for output in outputs]
    assert sum(sent) == count
    # They really ran at once: more than one of them delivered a share.
    assert sum(1 for share in sent if share) >= 2, sent


def test_flusher_killed_mid_batch_repeats_only_that_batch() -> None:
    count, batch = 300, 40
    keys = make_triggers(count)
    # Slow answers keep the flusher mid-batch when it is killed.
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.01)) as receiver:
        env = command_env(receiver.url, **FAST)
        victim = start("brockman_flush", "--batch-size", str(batch), "--concurrency", "1", env=env)
        try:
            assert receiver.wait_for(batch + batch // 2, timeout=120), victim.stderr
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.communicate()
        assert victim.returncode == -signal.SIGKILL
        before = Counter(receiver.idempotency_keys())
        in_flight = Trigger.objects.filter(status=Status.SENDING)
        claim_of = {str(key): token for key, token in in_flight.values_list("uuid", "claim_token")}
        killed_batch = set(claim_of)
        # The batch being sent, and perhaps the next one, claimed while the last
        # trigger of the first was still queued.
        assert 0 < len(killed_batch) <= batch + 1

        # The killed flusher's lease must run out before its rows are claimable again.
        lease_ends = max(in_flight.values_list("next_attempt_at", flat=True))
        time.sleep(max(0.0, (lease_ends - timezone.now()).total_seconds()) + 0.2)
        later = run("brockman_flush", "--concurrency", "2", env=env)
        received = Counter(receiver.idempotency_keys())

    assert later.returncode == 0, later.stderr
    assert set(received) == keys
    assert statuses() == {Status.SENT: count}
    repeated = {key for key, times in received.items() if times > 1}
    assert repeated <= killed_batch
    # Only requests of the one batch the kill interrupted are repeated.
    assert len({claim_of[key] for key in repeated}) <= 1
    assert max(received.values()) <= 2
    # What the killed flusher had not sent yet was sent once, by the later run.
    assert all(received[key] == 1 for key in killed_batch - set(before))


def test_flushers_under_faults_send_each_trigger_once() -> None:
    count = 300
    keys = make_triggers(count)
    faults = Faults(
        error_rate=0.1,  # 500 or 503
        rate_limit_rate=0.08,  # 429 with Retry-After: 1
        retry_after=1,
        slow_rate=0.04,  # answers after the client's timeout
        slow_seconds=UNDER_FAULTS["TIMEOUT"] + 1,
        drop_rate=0.08,  # connection closed without an answer
        seed=20260301,
    )
    with Receiver(api_key=API_KEY, faults=faults) as receiver:
        env = command_env(receiver.url, MAX_ATTEMPTS=100, **UNDER_FAULTS)
        workers = [
            start(
                "brockman_flush",
                "--loop",
                "--interval",
                "0.2",
                "--batch-size",
                "20",
                "--concurrency",
                "4",
                env=env,
            )
            for _ in range(2)
        ]
        try:
            deadline = time.monotonic() + 180
            while Trigger.objects.filter(status=Status.SENT).count() < count:
                assert time.monotonic() < deadline, statuses()
                assert all(worker.poll() is None for worker in workers)
                time.sleep(0.2)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
        finish(workers, timeout=60)
        received = Counter(receiver.idempotency_keys())
        faults_injected = receiver.faulted
    faulted = Counter(fault.kind for fault in faults_injected)

    assert set(received) == keys
    assert max(received.values()) == 1
    assert statuses() == {Status.SENT: count}
    assert set(faulted) == {"error", "rate_limit", "slow", "drop"}
    # Every fault cost its trigger exactly one attempt, and nothing else did.
    attempts = sum(Trigger.objects.values_list("attempts", flat=True))
    assert attempts == count + len(faults_injected)


def test_four_flushers_each_send_a_share() -> None:
    # Slow answers keep every flusher busy long enough for all four to be claiming at
    # once: a claim must not hide the backlog from the others while it is open.
    count, flushers = 1200, 4
    keys = make_triggers(count)
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.02)) as receiver:
        env = command_env(receiver.url, **FAST)
        processes = [
            start("brockman_flush", "--batch-size", "20", "--concurrency", "2", env=env)
            for _ in range(flushers)
        ]
        outputs = finish(processes)
        received = Counter(receiver.idempotency_keys())

    assert set(received) == keys
    assert max(received.values()) == 1
    assert statuses() == {Status.SENT: count}
    shares = [sent_count(output) for output in outputs]
    assert sum(shares) == count
    assert all(shares), shares
