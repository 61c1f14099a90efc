"""manage.py brockman_flush: options, output, exit statuses, and --loop under signals."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django.utils import timezone

from django_brockman.models import Status, Trigger
from django_brockman.receiver import Faults, Receiver
from tests.conftest import TRIGGER_URL
from tests.processes import API_KEY, command_env, run, start


def make_triggers(count: int, **fields: Any) -> list[Trigger]:
    return [
        Trigger.objects.create(actor_id=f"actor-{n}", action="viewed", obj=f"page {n}", **fields)
        for n in range(count)
    ]


def flush(*args: str, **options: Any) -> str:
    out = StringIO()
    call_command("brockman_flush", *args, stdout=out, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_flush_command_reports_what_it_did(mocked_api: responses.RequestsMock) -> None:
    make_triggers(3)
    for status in (201, 503, 400):
        mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    output = flush("--concurrency", "1")

    assert output == "Flushed: 1 sent, 1 to retry, 1 failed.\n"


@pytest.mark.django_db
def test_flush_command_limit_and_batch_size(mocked_api: responses.RequestsMock) -> None:
    make_triggers(5)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    output = flush("--limit", "3", "--batch-size", "2", "--concurrency", "2")

    assert "Flushed: 3 sent" in output
    assert Trigger.objects.filter(status=Status.SENT).count() == 3


@pytest.mark.django_db
def test_flush_command_max_seconds_option(mocked_api: responses.RequestsMock) -> None:
    make_triggers(2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    assert "Flushed: 2 sent" in flush("--max-seconds", "60")


@pytest.mark.django_db
def test_flush_command_dry_run_sends_and_changes_nothing(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(2)
    make_triggers(1, next_attempt_at=timezone.now() + timedelta(hours=1))
    make_triggers(1, status=Status.FAILED, attempts=15)

    output = flush("--dry-run", "--retry-failed")

    assert output == "1 failed triggers would be requeued.\n2 triggers are due; none was sent.\n"
    assert len(mocked_api.calls) == 0
    assert Trigger.objects.filter(status=Status.FAILED, attempts=15).count() == 1


@pytest.mark.django_db
def test_flush_command_retry_failed_requeues_then_sends(
    mocked_api: responses.RequestsMock,
) -> None:
    (failed,) = make_triggers(1, status=Status.FAILED, attempts=15, last_error="gave up")
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    output = flush("--retry-failed")

    assert output.startswith("Requeued 1 failed triggers.\n")
    failed.refresh_from_db()
    assert (failed.status, failed.attempts, failed.last_error) == (Status.SENT, 1, "")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [401, 403, 404])
def test_flush_command_configuration_answer_raises_exit_3(
    mocked_api: responses.RequestsMock, status: int
) -> None:
    make_triggers(2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    with pytest.raises(CommandError) as raised:
        flush("--concurrency", "1")

    assert raised.value.returncode == 3
    assert "check BROCKMAN_" in str(raised.value)
    assert list(Trigger.objects.values_list("status", "attempts")) == [(Status.PENDING, 0)] * 2


@pytest.mark.django_db
@override_settings(BROCKMAN_ENDPOINT="focuslab.test/api/v1/")
def test_flush_command_failed_system_check_is_exit_3() -> None:
    with pytest.raises(CommandError, match=r"brockman\.E003") as raised:
        flush(skip_checks=False)

    assert raised.value.returncode == 3


@pytest.mark.django_db
@override_settings(BROCKMAN_API_KEY="")
def test_flush_command_without_key_refuses_saying_what_to_do_locally() -> None:
    make_triggers(1)

    with pytest.raises(CommandError) as raised:
        flush(skip_checks=False)

    assert raised.value.returncode == 3
    assert "BROCKMAN_API_KEY is not set" in str(raised.value)
    assert "django_brockman.backends.console.ConsoleBackend" in str(raised.value)
    assert "python -m django_brockman.receiver --api-key" in str(raised.value)
    assert list(Trigger.objects.values_list("status", "attempts")) == [(Status.PENDING, 0)]


@pytest.mark.django_db
@override_settings(BROCKMAN_LEASE_SECONDS=5.0, BROCKMAN_TIMEOUT=10.0)
def test_flush_command_lease_shorter_than_timeout_is_exit_3() -> None:
    with pytest.raises(CommandError, match="BROCKMAN_LEASE_SECONDS") as raised:
        flush()

    assert raised.value.returncode == 3


def test_flush_command_unknown_database_is_exit_3() -> None:
    with pytest.raises(CommandError, match="'nope'") as raised:
        flush("--database", "nope")

    assert raised.value.returncode == 3


@pytest.mark.parametrize(
    "args",
    [
        ["--limit", "0"],
        ["--batch-size", "-1"],
        ["--concurrency", "0"],
        ["--max-seconds", "0"],
        ["--interval", "-1"],
    ],
)
def test_flush_command_refuses_non_positive_options(args: list[str]) -> None:
    with pytest.raises(CommandError, match=args[0]):
        flush(*args)


# Real processes: the exit status is what cron and process supervisors see.


@pytest.mark.django_db(transaction=True)
def test_flush_process_exit_statuses() -> None:
    make_triggers(3)
    with Receiver(api_key=API_KEY) as receiver:
        good = command_env(receiver.url)
        bad_option = run("brockman_flush", "--limit", "0", env=good)
        no_key = run("brockman_flush", env=command_env(receiver.url, api_key=""))
        wrong_endpoint = run(
            "brockman_flush", env=command_env(receiver.url.replace("/api/v1/", "/v2/"))
        )
        bug = run(
            "brockman_flush",
            "--concurrency",
            "1",
            env=command_env(
                receiver.url,
                BACKEND="tests.testapp.backends.ExplodingBackend",
                RETRY_BASE_SECONDS=3600,  # "page 1" is not due again in this test
            ),
        )
        completed = run("brockman_flush", env=good)

    assert bad_option.returncode == 2, bad_option.stderr
    assert "--limit" in bad_option.stderr
    assert no_key.returncode == 3, no_key.stderr
    assert "BROCKMAN_API_KEY is not set" in no_key.stderr
    assert wrong_endpoint.returncode == 3, wrong_endpoint.stderr
    assert "BROCKMAN_ENDPOINT" in wrong_endpoint.stderr
    assert bug.returncode == 1, bug.stderr
    assert "RuntimeError: bug in a backend" in bug.stderr
    assert completed.returncode == 0, completed.stderr
    # The buggy backend took "page 0", and "page 1" (the one it raised on) waits for its
    # retry; the bug's run released "page 2" unattempted, and this run sent it.
    assert "Flushed: 1 sent, 0 to retry, 0 failed." in completed.stdout
    assert list(Trigger.objects.order_by("pk").values_list("status", "attempts")) == [
        (Status.SENT, 1),
        (Status.PENDING, 1),
        (Status.SENT, 1),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_flush_loop_stops_cleanly_on_signal(signum: int) -> None:
    make_triggers(1)
    # The signal is sent once the seventh trigger has arrived: with 50 ms an answer, two
    # at a time, the 61 take over a second, so it lands in the middle of a run.
    faults = Faults(latency=0.05)
    with Receiver(api_key=API_KEY, faults=faults) as receiver:
        worker = start(
            "brockman_flush",
            "--loop",
            "--interval",
            "0.2",
            "--concurrency",
            "2",
            "--batch-size",
            "5",
            env=command_env(receiver.url),
        )
        try:
            # Delivered: the worker is up, its signal handlers installed.
            assert receiver.wait_for(1, timeout=60), worker.stderr
            # Recorded while it sleeps: the loop picks them up.
            make_triggers(60)
            assert receiver.wait_for(7, timeout=60), worker.stderr
            worker.send_signal(signum)
            stdout, stderr = worker.communicate(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        received = Counter(receiver.idempotency_keys())

    assert worker.returncode == 0, stderr
    assert "Stopped by a signal; unsent triggers were released." in stdout
    sent = set(Trigger.objects.filter(status=Status.SENT).values_list("uuid", flat=True))
    assert {str(key) for key in sent} == set(received)
    assert set(received.values()) == {1}
    assert 6 <= len(sent) < 61
    # Nothing is left leased: what was claimed and not sent is due again, unattempted.
    assert not Trigger.objects.filter(status=Status.SENDING).exists()
    assert Trigger.objects.filter(status=Status.PENDING, attempts=0).count() == 61 - len(sent)
