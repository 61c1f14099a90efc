"""flush() and flush_loop() through a database outage, in one process: the outage is
injected into the outbox's statements; the backoff waits on the run's fake clock, so
nothing sleeps."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import CommandError, call_command
from django.db import OperationalError

from django_brockman import outbox, transitions
from django_brockman.clock import SystemClock
from django_brockman.dbretry import DatabaseRetry, DatabaseUnavailable
from django_brockman.engine import FlushResult, flush, flush_loop
from django_brockman.models import Status, Trigger
from tests.clock import FakeClock
from tests.conftest import TRIGGER_URL

pytestmark = pytest.mark.django_db(transaction=True)

DOWN = "server closed the connection unexpectedly"


class Outage(FakeClock):
    """The run's clock; while "the database is away", the statements patched with
    fail() raise. Notes how many requests had started when the outage began."""

    def __init__(self, mocked: responses.RequestsMock, failures: int) -> None:
        super().__init__()
        self.mocked = mocked
        self.failures = failures
        self.requests_while_down: int | None = None

    def fail(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        real = getattr(module, name)

        def failing(*args: Any, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise OperationalError(DOWN)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, failing)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if self.failures:  # a backoff: the database is away
            calls = len(self.mocked.calls)
            if self.requests_while_down is None:
                self.requests_while_down = calls
            # No request is started while the database is away; those in flight (one
            # per sender) may finish.
            assert calls <= self.requests_while_down + 2
        return super().wait(event, seconds)


def make_triggers(count: int) -> None:
    Trigger.objects.bulk_create(
        Trigger(actor_id=f"actor-{n}", action="viewed", obj=f"page {n}") for n in range(count)
    )


def sent_once(mocked_api: responses.RequestsMock, count: int) -> None:
    keys = Counter(str(call.request.headers["Idempotency-Key"]) for call in mocked_api.calls)
    assert len(keys) == count
    assert max(keys.values()) == 1
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


def test_results_are_kept_through_an_outage_and_each_trigger_sent_once(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(30)
    outage = Outage(mocked_api, failures=4)
    # Inside the write-back's transaction: what it wrote is rolled back, and the retry
    # writes the same results again.
    outage.fail(monkeypatch, transitions, "write")
    retry = DatabaseRetry("default", clock=outage)

    result = flush(batch_size=10, concurrency=2, clock=outage, db_retry=retry)

    sent_once(mocked_api, 30)
    assert result.sent == 30
    assert result.lost == 0
    assert outage.requests_while_down is not None
    assert retry.outages == 1
    assert not retry.down


def test_a_claim_waits_out_an_outage(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(30)
    outage = Outage(mocked_api, failures=3)
    outage.fail(monkeypatch, outbox, "claim_batch")

    result = flush(batch_size=10, concurrency=2, clock=outage)

    sent_once(mocked_api, 30)
    assert result.sent == 30
    assert outage.monotonic() == pytest.approx(0.7)  # 0.1 + 0.2 + 0.4


def test_an_outage_longer_than_the_patience_ends_the_run(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(5)
    outage = Outage(mocked_api, failures=10_000)
    outage.fail(monkeypatch, transitions, "write")
    retry = DatabaseRetry("default", patience=30, clock=outage)

    with pytest.raises(DatabaseUnavailable):
        flush(batch_size=10, clock=outage, db_retry=retry)

    # What could not be written stays claimed until its lease ends: not sent again now.
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENDING}
    assert 30 <= outage.monotonic() <= 40


def test_a_single_run_waits_up_to_its_lease_by_default(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock, settings: Any
) -> None:
    settings.BROCKMAN_LEASE_SECONDS = 60
    make_triggers(5)
    outage = Outage(mocked_api, failures=10_000)
    outage.fail(monkeypatch, outbox, "claim_batch")

    with pytest.raises(DatabaseUnavailable):
        flush(clock=outage)

    assert 60 <= outage.monotonic() <= 66
    assert len(mocked_api.calls) == 0


def test_flush_loop_survives_an_outage_longer_than_the_lease_and_logs_it_once(
    monkeypatch: pytest.MonkeyPatch,
    mocked_api: responses.RequestsMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(30)
    outage = Outage(mocked_api, failures=100)  # about 490 s of backoff, capped at 5 s
    outage.fail(monkeypatch, transitions, "write")
    stop = threading.Event()
    reported: list[FlushResult] = []

    def report(result: FlushResult) -> None:
        reported.append(result)
        if not result.claimed:
            stop.set()

    with caplog.at_level(logging.WARNING, logger="django_brockman.db"):
        last = flush_loop(stop=stop, report=report, clock=outage, batch_size=10, concurrency=2)

    assert outage.monotonic() > 300  # the default lease
    sent_once(mocked_api, 30)
    assert sum(result.sent for result in reported) == 30
    assert last.claimed == 0
    messages = [record.getMessage() for record in caplog.records]
    assert sum("is unavailable" in message for message in messages) == 1, messages
    assert sum("is back after" in message for message in messages) == 1, messages


class StopAfter(Outage):
    """Sets *stop* (a signal arrives) after *seconds* of the outage."""

    def __init__(self, mocked: responses.RequestsMock, stop: threading.Event) -> None:
        super().__init__(mocked, failures=10_000)
        self.stop = stop

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if self.monotonic() >= 60:
            self.stop.set()
        return super().wait(event, seconds)


def test_flush_loop_stopped_during_an_outage_ends_as_if_by_a_signal(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(5)
    stop = threading.Event()
    outage = StopAfter(mocked_api, stop)
    outage.fail(monkeypatch, outbox, "claim_batch")

    result = flush_loop(stop=stop, clock=outage, concurrency=1)

    assert result.interrupted
    assert 60 <= outage.monotonic() <= 70
    assert len(mocked_api.calls) == 0
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.PENDING}


@pytest.fixture
def system_clock(monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock) -> Outage:
    """The command's clock (the system's) made a fake one: the waits take no time."""
    fake = Outage(mocked_api, failures=10_000)
    monkeypatch.setattr(SystemClock, "now", lambda self: fake.now())
    monkeypatch.setattr(SystemClock, "monotonic", lambda self: fake.monotonic())
    monkeypatch.setattr(SystemClock, "wait", lambda self, event, s: fake.wait(event, s))
    return fake


def test_a_cron_run_whose_database_stays_away_exits_4(
    monkeypatch: pytest.MonkeyPatch, system_clock: Outage
) -> None:
    make_triggers(5)
    system_clock.fail(monkeypatch, outbox, "claim_batch")

    with pytest.raises(CommandError, match="is unavailable") as raised:
        call_command("brockman_flush", stdout=StringIO())

    assert raised.value.returncode == 4
    assert system_clock.monotonic() >= 300  # the lease
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.PENDING}


@pytest.mark.parametrize("loop", [[], ["--loop"]])
def test_a_signal_during_an_outage_ends_the_command_with_status_0(
    monkeypatch: pytest.MonkeyPatch, system_clock: Outage, loop: list[str]
) -> None:
    make_triggers(5)
    system_clock.fail(monkeypatch, outbox, "claim_batch")
    real_wait = system_clock.wait

    def wait(event: threading.Event, seconds: float) -> bool:
        if system_clock.monotonic() >= 20:
            os.kill(os.getpid(), signal.SIGTERM)  # the command's handler sets *event*
        return real_wait(event, seconds)

    monkeypatch.setattr(system_clock, "wait", wait)
    out = StringIO()

    call_command("brockman_flush", *loop, stdout=out)

    assert 20 <= system_clock.monotonic() < 30
    # A single run says so; a --loop worker reports only runs that claimed something.
    assert ("Stopped by a signal" in out.getvalue()) == (not loop)
