"""Delivery rides out a database outage: real workers against a PostgreSQL server that
the test stops and starts itself (its own data directory and port).

Only when BROCKMAN_TEST_DB=postgres (the run that has PostgreSQL's binaries), and only
where ``initdb`` and ``runuser`` are available and the tests run as root.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from django_brockman.receiver import Faults, Receiver
from tests.pgserver import ThrowawayPostgres, find_bin_dir
from tests.processes import API_KEY, command, run, start

BIN_DIR = find_bin_dir()

pytestmark = [
    pytest.mark.concurrency,
    pytest.mark.skipif(
        os.environ.get("BROCKMAN_TEST_DB") != "postgres",
        reason="outage tests run with BROCKMAN_TEST_DB=postgres",
    ),
    pytest.mark.skipif(BIN_DIR is None, reason="needs initdb, runuser and root"),
]

TABLE = "django_brockman_trigger"


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    """One throwaway server for the module (initdb and migrate once)."""
    assert BIN_DIR is not None
    with ThrowawayPostgres(BIN_DIR) as pg:
        migrated = subprocess.run(
            command("migrate", "--noinput"),
            env=env_for(pg, ""),
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        yield pg


@pytest.fixture
def server(cluster: ThrowawayPostgres) -> ThrowawayPostgres:
    """The server, running, with an empty outbox."""
    if not cluster.running:
        cluster.start()
    cluster.query(f"TRUNCATE {TABLE}")
    return cluster


def env_for(pg: ThrowawayPostgres, endpoint: str, **settings: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "BROCKMAN_API_KEY": API_KEY,
        "BROCKMAN_TIMEOUT": "2",
        "BROCKMAN_LEASE_SECONDS": "60",
        "BROCKMAN_RETRY_BASE_SECONDS": "0.05",
        **pg.env(),
    }
    if endpoint:
        env["BROCKMAN_ENDPOINT"] = endpoint
    env.update((f"BROCKMAN_{name}", value) for name, value in settings.items())
    return env


def record(pg: ThrowawayPostgres, count: int) -> set[str]:
    """Insert *count* due triggers; their Idempotency-Keys."""
    rows = pg.query(
        f"INSERT INTO {TABLE} (uuid, actor_id, action, obj, identities, attributes, variables,"
        " status, attempts, next_attempt_at, last_error, created_at, updated_at)"
        " SELECT gen_random_uuid(), 'actor-' || n %% 97, 'viewed', 'page ' || n, '{}', '{}',"
        " '{}', 'pending', 0, now(), '', now(), now() FROM generate_series(1, %s) AS n"
        " RETURNING uuid",
        count,
    )
    return {str(row[0]) for row in rows}


def statuses(pg: ThrowawayPostgres) -> dict[str, int]:
    return {
        str(s): int(n) for s, n in pg.query(f"SELECT status, count(*) FROM {TABLE} GROUP BY 1")
    }  # type: ignore[call-overload]


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def stop_worker(worker: subprocess.Popen[str]) -> tuple[str, str]:
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()


def test_loop_rides_out_a_ten_second_outage_each_trigger_once(server: ThrowawayPostgres) -> None:
    count = 3000
    keys = record(server, count)
    # Slow enough answers that the outage falls in the middle of the run.
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.02)) as receiver:
        env = env_for(server, receiver.url)
        worker = start(
            "brockman_flush", "--loop", "--interval", "0.5", "--concurrency", "8", env=env
        )
        try:
            assert receiver.wait_for(count // 4, timeout=120), worker.stderr
            server.stop()
            time.sleep(10)
            assert worker.poll() is None, "the worker died of the outage"
            server.start()

            def all_sent() -> bool:
                return statuses(server).get("sent", 0) == count

            wait_until(all_sent, 120, "not every trigger was sent after the outage")
        finally:
            _, stderr = stop_worker(worker)
        received = Counter(receiver.idempotency_keys())

    assert worker.returncode == 0, stderr
    assert set(received) == keys
    assert max(received.values()) == 1, [key for key, n in received.items() if n > 1][:5]
    assert statuses(server) == {"sent": count}
    # The outage is logged once when it starts and once when it ends.
    assert stderr.count("is unavailable") == 1, stderr
    assert stderr.count("is back after") == 1, stderr
    assert "Traceback" not in stderr, stderr


def test_loop_with_persistent_connections_survives_a_restart_while_sleeping(
    server: ThrowawayPostgres,
) -> None:
    first = record(server, 5)
    with Receiver(api_key=API_KEY) as receiver:
        env = env_for(server, receiver.url, TEST_CONN_MAX_AGE="null")
        worker = start("brockman_flush", "--loop", "--interval", "2", env=env)
        try:
            assert receiver.wait_for(5, timeout=60), worker.stderr
            # The worker sleeps: its connection, kept for ever, dies with the server.
            server.stop()
            server.start()
            time.sleep(3)  # past the worker's next pass
            assert worker.poll() is None, "the worker died on a stale connection"
            second = record(server, 5)
            assert receiver.wait_for(10, timeout=60)
        finally:
            _, stderr = stop_worker(worker)
        received = Counter(receiver.idempotency_keys())

    assert worker.returncode == 0, stderr
    assert set(received) == first | second
    assert max(received.values()) == 1
    assert "Traceback" not in stderr, stderr


def test_single_run_exits_4_when_the_database_stays_away(server: ThrowawayPostgres) -> None:
    record(server, 5)
    server.stop()

    with Receiver(api_key=API_KEY) as receiver:
        # Waits up to its lease for the database, then gives up.
        env = env_for(server, receiver.url, LEASE_SECONDS="4", TIMEOUT="1")
        started = time.monotonic()
        result = run("brockman_flush", env=env)
        took = time.monotonic() - started

    assert result.returncode == 4, result.stderr
    assert "is unavailable" in result.stderr
    assert "Traceback" not in result.stderr
    assert 4 <= took < 30


def test_sigterm_during_an_outage_stops_a_loop_worker_cleanly(server: ThrowawayPostgres) -> None:
    record(server, 5)
    with Receiver(api_key=API_KEY) as receiver:
        worker = start(
            "brockman_flush", "--loop", "--interval", "0.5", env=env_for(server, receiver.url)
        )
        try:
            assert receiver.wait_for(5, timeout=60), worker.stderr
            server.stop()
            time.sleep(2)  # the worker is waiting for the database
            assert worker.poll() is None
            started = time.monotonic()
            _, stderr = stop_worker(worker)
            took = time.monotonic() - started
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    assert worker.returncode == 0, stderr
    assert took < 15
    assert "Traceback" not in stderr, stderr


def test_single_run_rides_out_a_short_outage_each_trigger_once(
    server: ThrowawayPostgres,
) -> None:
    count = 1000
    keys = record(server, count)
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.02)) as receiver:
        env = env_for(server, receiver.url)
        flusher = start("brockman_flush", "--concurrency", "8", env=env)
        try:
            assert receiver.wait_for(count // 4, timeout=120), flusher.stderr
            server.stop()
            time.sleep(3)
            server.start()
            _, stderr = flusher.communicate(timeout=120)
        finally:
            if flusher.poll() is None:
                flusher.kill()
                flusher.communicate()
        received = Counter(receiver.idempotency_keys())

    # Once the database is back the run carries on: what it released unsent during the
    # outage is due again, and it claims and sends it.
    assert flusher.returncode == 0, stderr
    assert set(received) == keys
    assert max(received.values()) == 1
    assert statuses(server) == {"sent": count}
    assert stderr.count("is unavailable") == 1, stderr
