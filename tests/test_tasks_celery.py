"""The Celery task: registered by autodiscovery, and run by real workers on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import responses
from django.db import connection

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger
from django_brockman.receiver import Faults, Receiver
from tests.conftest import TRIGGER_URL
from tests.workers import API_KEY, ROOT, worker_env

pytest.importorskip("celery", reason="needs Celery: pip install -e '.[test]'")

from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from django_brockman.tasks.celery import flush
from django_brockman.tasks.celery import record_trigger as legacy_record_trigger
from tests.celery_app import REDIS_URL, app

TASK_NAME = "django_brockman.flush"
# The reference client's task, for messages queued and call sites written for it.
LEGACY_TASK_NAME = "brockman.django.celery.tasks.record_trigger"
TRIGGERS = 60
READY_SECONDS = 90.0
RESULT_SECONDS = 180.0


def test_celery_task_is_found_by_autodiscovery() -> None:
    # In a fresh process, as a worker starts: the app imports nothing of django_brockman
    # itself, and autodiscovery imports django_brockman.tasks.
    script = (
        "from tests.celery_app import app\n"
        "app.loader.import_default_modules()\n"
        "print(sorted(name for name in app.tasks if not name.startswith('celery.')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"[{LEGACY_TASK_NAME!r}, {TASK_NAME!r}]"
    assert app.tasks[TASK_NAME].run is flush.run
    assert app.tasks[LEGACY_TASK_NAME].run is legacy_record_trigger.run


@pytest.mark.django_db(transaction=True)
def test_celery_task_applied_returns_counts(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201, json={})
    record_trigger(None, "viewed", "home page", actor_id="actor-1")

    result = flush.apply()

    assert result.successful()
    assert (result.result["claimed"], result.result["sent"]) == (1, 1)


@pytest.mark.django_db
def test_celery_task_applied_inside_transaction_fails(
    mocked_api: responses.RequestsMock,
) -> None:
    record_trigger(None, "viewed", "home page", actor_id="actor-1")

    result = flush.apply()

    assert result.failed()
    assert isinstance(result.result, RuntimeError)
    assert len(mocked_api.calls) == 0


@pytest.mark.django_db
def test_legacy_task_applied_records_instead_of_sending(
    mocked_api: responses.RequestsMock,
) -> None:
    task_id = str(uuid.uuid4())

    result = legacy_record_trigger.apply(
        kwargs={"actor_id": 7, "action": "viewed", "obj": "page", "variables": {"n": 1}},
        task_id=task_id,
    )

    assert result.successful()
    assert result.result == task_id
    row = Trigger.objects.get()
    assert (row.status, str(row.uuid), row.actor_id, row.variables) == (
        Status.PENDING,
        task_id,
        "7",
        {"n": 1},
    )
    assert len(mocked_api.calls) == 0


@pytest.mark.django_db
def test_legacy_task_takes_the_references_positional_arguments() -> None:
    result = legacy_record_trigger.apply(args=("a1", "viewed", "page", {"email": "x@y.z"}))

    assert result.successful()
    assert Trigger.objects.get().identities == {"email": "x@y.z"}


@pytest.mark.django_db
def test_legacy_task_with_bad_input_fails_and_stores_nothing() -> None:
    result = legacy_record_trigger.apply(kwargs={"actor_id": "a1", "action": "", "obj": "p"})

    assert result.failed()
    assert isinstance(result.result, ValueError)
    assert not Trigger.objects.exists()


# Two processes per worker (the prefork parent and one child): a small machine's worth.
WORKER_ARGS = ("--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO")
WORKER_QUIET = ("--without-heartbeat", "--without-gossip", "--without-mingle")


class Worker:
    """A ``celery worker`` process consuming one queue, logging to a file."""

    def __init__(self, name: str, queue: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        command = [sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker"]
        command += ["--queues", queue, "--hostname", f"{name}@%h", *WORKER_ARGS, *WORKER_QUIET]
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, deadline: float) -> None:
        while " ready." not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, f"worker not ready:\n{self.output()}"
            time.sleep(0.2)

    def stop(self) -> None:
        # SIGTERM is Celery's warm shutdown: the running task finishes first.
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextmanager
def running_workers(queue: str, env: dict[str, str], logs: Path) -> Iterator[list[Worker]]:
    """Two workers, as on two hosts, each running one flush at a time."""
    workers: list[Worker] = []
    try:
        for name in ("brockman-a", "brockman-b"):
            workers.append(Worker(name, queue, env, logs / f"{name}.log"))
        deadline = time.monotonic() + READY_SECONDS
        for worker in workers:
            worker.wait_ready(deadline)
        yield workers
    finally:
        for worker in workers:
            worker.stop()


@contextmanager
def producing(*enqueuers: Callable[[], AsyncResult]) -> Iterator[list[AsyncResult]]:
    """Each enqueuer in a thread of its own, enqueueing every 0.1 s until the block ends."""
    results: list[AsyncResult] = []
    stop = threading.Event()

    def produce(enqueue: Callable[[], AsyncResult]) -> None:
        while not stop.wait(0.1):
            results.append(enqueue())

    threads = [threading.Thread(target=produce, args=(enqueue,)) for enqueue in enqueuers]
    for thread in threads:
        thread.start()
    try:
        yield results
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def assert_broker_reachable() -> None:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
    except OperationalError as exc:
        pytest.fail(f"The Celery test needs Redis at {REDIS_URL}: {exc}")


def forget(queue: str, results: list[AsyncResult]) -> None:
    """Remove what the run left in Redis: its results, its queue and the queue's binding."""
    for result in results:
        result.forget()
    with app.connection_for_write() as conn:
        bindings = (f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        conn.default_channel.client.delete(queue, *bindings)


@pytest.mark.celery
@pytest.mark.skipif(
    os.environ.get("BROCKMAN_TEST_DB") != "postgres",
    reason="runs Celery workers against PostgreSQL only: set BROCKMAN_TEST_DB=postgres",
)
@pytest.mark.django_db(transaction=True)
def test_celery_workers_deliver_each_trigger_once(tmp_path: Path) -> None:
    assert connection.vendor == "postgresql"
    assert_broker_reachable()
    # A queue of this run's own, so parallel runs never take each other's tasks.
    queue = f"brockman-test-{uuid.uuid4().hex}"
    recorded: list[str] = []
    results: list[AsyncResult] = []
    # Each request takes a little while, so that the two workers' claims overlap.
    with Receiver(api_key=API_KEY, faults=Faults(latency=0.02)) as receiver:
        env = worker_env(receiver.url, BATCH_SIZE=5, CONCURRENCY=2)
        try:
            with running_workers(queue, env, tmp_path) as workers:
                # Two producers: one calls the task, the other sends it by name, as beat does.
                with producing(
                    lambda: flush.apply_async(queue=queue),
                    lambda: app.send_task(TASK_NAME, queue=queue),
                ) as results:
                    for number in range(TRIGGERS):
                        trigger = record_trigger(None, "viewed", f"p{number}", actor_id="a")
                        recorded.append(str(trigger.uuid))
                        time.sleep(0.02)
                # Enqueued after the last trigger was committed: they send what is left.
                results += [flush.apply_async(queue=queue), app.send_task(TASK_NAME, queue=queue)]
                summaries = [result.get(timeout=RESULT_SECONDS) for result in results]
            received = [item.idempotency_key for item in receiver.received]
        finally:
            forget(queue, results)

    assert len(results) > 4
    assert all("succeeded" in worker.output() for worker in workers)  # both took tasks
    assert sorted(received) == sorted(recorded)  # each exactly once
    assert sum(summary["sent"] for summary in summaries) == TRIGGERS
    assert sum(summary["lost"] for summary in summaries) == 0
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.celery
@pytest.mark.skipif(
    os.environ.get("BROCKMAN_TEST_DB") != "postgres",
    reason="runs a Celery worker against PostgreSQL only: set BROCKMAN_TEST_DB=postgres",
)
@pytest.mark.django_db(transaction=True)
def test_legacy_task_run_by_a_worker_records_each_message_once(tmp_path: Path) -> None:
    assert connection.vendor == "postgresql"
    assert_broker_reachable()
    queue = f"brockman-test-{uuid.uuid4().hex}"
    results: list[AsyncResult] = []
    env = worker_env("http://127.0.0.1:9/api/v1/")  # nothing is sent
    try:
        worker = Worker("legacy", queue, env, tmp_path / "legacy.log")
        try:
            worker.wait_ready(time.monotonic() + READY_SECONDS)
            # As old call sites do, and as a message queued by brockman's code arrives.
            results.append(
                legacy_record_trigger.apply_async(
                    kwargs={"actor_id": 42, "action": "viewed", "obj": "page 1"}, queue=queue
                )
            )
            results.append(
                app.send_task(
                    LEGACY_TASK_NAME,
                    args=[str(uuid.UUID(int=3)), "bought", "order 9"],
                    kwargs={"attributes": {"plan": "pro"}},
                    queue=queue,
                )
            )
            # The same message delivered twice: recorded once.
            twice = str(uuid.uuid4())
            for _ in range(2):
                results.append(
                    app.send_task(
                        LEGACY_TASK_NAME,
                        kwargs={"actor_id": "a", "action": "viewed", "obj": "page 2"},
                        task_id=twice,
                        queue=queue,
                    )
                )
            uuids = [result.get(timeout=RESULT_SECONDS) for result in results]
        finally:
            worker.stop()
    finally:
        forget(queue, results)

    rows = {str(row.uuid): row for row in Trigger.objects.all()}
    assert sorted(rows) == sorted(set(uuids))
    assert len(rows) == 3
    assert {(row.actor_id, row.action, row.obj) for row in rows.values()} == {
        ("42", "viewed", "page 1"),
        ("00000000-0000-0000-0000-000000000003", "bought", "order 9"),
        ("a", "viewed", "page 2"),
    }
    assert rows[twice].status == Status.PENDING
    assert "succeeded" in worker.output()
