"""The Django Tasks task, run by the immediate backend and by a database-backed worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger
from django_brockman.receiver import Receiver
from tests.workers import API_KEY, ROOT, worker_env

try:
    from django.tasks import TaskResultStatus
except ImportError:  # Django 5.2: the backport, or no Django Tasks at all
    TaskResultStatus = pytest.importorskip("django_tasks").TaskResultStatus

from django_brockman.tasks.django import flush

# Run what is queued on the "database" backend, then exit.
DB_WORKER_ARGS = ("--backend", "database", "--batch", "--no-startup-delay", "--no-reload")


def record(count: int) -> list[str]:
    return [
        str(record_trigger(None, "viewed", f"page {number}", actor_id="actor-1").uuid)
        for number in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_flush_task_immediate_backend_delivers() -> None:
    keys = record(3)

    with (
        Receiver(api_key=API_KEY) as receiver,
        override_settings(BROCKMAN_API_KEY=API_KEY, BROCKMAN_ENDPOINT=receiver.url),
    ):
        result = flush.enqueue()
        received = sorted(item.idempotency_key for item in receiver.received)

    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert (result.return_value["claimed"], result.return_value["sent"]) == (3, 3)
    assert received == sorted(keys)
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


@pytest.mark.django_db(transaction=True)
def test_flush_task_rejected_key_fails_the_task() -> None:
    record(1)

    with (
        Receiver(api_key=API_KEY) as receiver,
        override_settings(BROCKMAN_API_KEY="rejected-key-value", BROCKMAN_ENDPOINT=receiver.url),
    ):
        result = flush.enqueue()

    assert result.status == TaskResultStatus.FAILED
    [error] = result.errors
    assert error.exception_class_path == "django.core.exceptions.ImproperlyConfigured"
    assert "BROCKMAN_API_KEY" in error.traceback
    assert "rejected-key-value" not in error.traceback
    assert Trigger.objects.get().status == Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_flush_task_enqueued_inside_transaction_fails_without_sending() -> None:
    record(1)

    with (
        Receiver(api_key=API_KEY) as receiver,
        override_settings(BROCKMAN_API_KEY=API_KEY, BROCKMAN_ENDPOINT=receiver.url),
    ):
        with transaction.atomic():
            result = flush.enqueue()
        count = receiver.count

    assert result.status == TaskResultStatus.FAILED
    assert "transaction.on_commit" in result.errors[0].traceback
    assert count == 0
    assert Trigger.objects.get().status == Status.PENDING


@pytest.mark.skipif("database" not in settings.TASKS, reason="needs django-tasks-db")
@pytest.mark.django_db(transaction=True)
def test_flush_task_database_worker_delivers() -> None:
    keys = record(4)
    result = flush.using(backend="database").enqueue()

    with Receiver(api_key=API_KEY) as receiver:
        completed = subprocess.run(
            [sys.executable, "-m", "django", "db_worker", *DB_WORKER_ARGS],
            cwd=ROOT,
            env=worker_env(receiver.url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        received = sorted(item.idempotency_key for item in receiver.received)

    assert completed.returncode == 0, completed.stderr
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL, result.errors
    assert result.return_value["sent"] == 4
    assert received == sorted(keys)
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}
