"""SQLite under a real site's load: busy writers and a looping flusher share one file.

The writers read then write inside atomic(), as views under ATOMIC_REQUESTS do; with
``transaction_mode`` IMMEDIATE (the test settings, as brockman.W020 advises) none of
them may fail, the flusher may never die of ``database is locked``, and every trigger
is delivered once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from django.db import connection

from django_brockman.models import Status, Trigger
from django_brockman.receiver import Faults, Receiver
from tests.processes import API_KEY, ROOT, command_env, start

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's database-wide lock"),
]

FAST = {"TIMEOUT": 1.0, "LEASE_SECONDS": 30.0, "RETRY_BASE_SECONDS": 0.05}


def site_writer(seconds: float, name: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.sqlite_site", str(seconds), name],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def flusher(env: dict[str, str]) -> subprocess.Popen[str]:
    return start("brockman_flush", "--loop", "--interval", "0.2", "--concurrency", "2", env=env)


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    try:
        return process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_all_sent(count: int, worker: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while Trigger.objects.filter(status=Status.SENT).count() < count:
        assert worker.poll() is None, "the flusher died"
        assert time.monotonic() < deadline, Counter(
            Trigger.objects.values_list("status", flat=True)
        )
        time.sleep(0.2)


def test_four_writers_and_a_looping_flusher_without_an_error() -> None:
    seconds = 15
    with Receiver(api_key=API_KEY) as receiver:
        # SQLite's default busy timeout, as a site would have it.
        env = command_env(receiver.url, TEST_SQLITE_TIMEOUT=5, **FAST)
        worker = flusher(env)
        try:
            writers = [site_writer(seconds, f"writer-{n}", env) for n in range(4)]
            reports = []
            for writer in writers:
                stdout, stderr = writer.communicate(timeout=seconds + 120)
                assert writer.returncode == 0, stderr
                reports.append(json.loads(stdout))
            recorded = [key for report in reports for key in report["recorded"]]
            wait_all_sent(len(recorded), worker)
        finally:
            _, flusher_err = stop(worker)
        received = Counter(receiver.idempotency_keys())

    errors = [error for report in reports for error in report["errors"]]
    assert errors == [], Counter(errors).most_common(3)
    assert all(report["recorded"] for report in reports)
    assert worker.returncode == 0, flusher_err
    assert set(received) == set(recorded)
    assert max(received.values()) == 1
    assert Trigger.objects.count() == len(recorded)


def test_a_site_transaction_longer_than_the_timeout_does_not_kill_the_flusher() -> None:
    count = 300
    Trigger.objects.bulk_create(
        Trigger(actor_id=f"actor-{n}", action="viewed", obj=f"page {n}") for n in range(count)
    )
    keys = {str(key) for key in Trigger.objects.values_list("uuid", flat=True)}
    # Slow answers keep the flusher busy while the site holds the lock.
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.02)) as receiver:
        env = command_env(receiver.url, TEST_SQLITE_TIMEOUT=1, **FAST)
        worker = flusher(env)
        try:
            assert receiver.wait_for(50, timeout=60), worker.stderr
            site = sqlite3.connect(str(connection.settings_dict["NAME"]), isolation_level=None)
            try:
                site.execute("BEGIN IMMEDIATE")  # a site transaction that takes its time
                time.sleep(4)  # four times the flusher's timeout
                assert worker.poll() is None, "the flusher died of 'database is locked'"
                site.execute("COMMIT")
            finally:
                site.close()
            wait_all_sent(count, worker)
        finally:
            _, stderr = stop(worker)
        received = Counter(receiver.idempotency_keys())

    assert worker.returncode == 0, stderr
    assert set(received) == keys
    assert max(received.values()) == 1
    assert "Traceback" not in stderr, stderr
