"""DatabaseRetry: outages are waited out with capped backoff, logged once, on a fake clock."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)

from django_brockman.dbretry import DatabaseRetry, DatabaseUnavailable, drop_unusable, is_outage
from django_brockman.models import Trigger
from tests import clock as fake


class FakeClock(fake.FakeClock):
    """The flusher's fake clock, noting each wait of the backoff."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def wait(self, event: threading.Event, seconds: float) -> bool:
        self.sleeps.append(seconds)
        return super().wait(event, seconds)


def failing(times: int, error: Exception) -> tuple[list[int], object]:
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return calls, step


def make_retry(clock: FakeClock, **kwargs: object) -> DatabaseRetry:
    return DatabaseRetry("default", clock=clock, **kwargs)  # type: ignore[arg-type]


def test_is_outage_knows_connection_errors_from_bugs() -> None:
    assert is_outage(OperationalError("server closed the connection unexpectedly"))
    assert is_outage(OperationalError("database is locked"))
    assert is_outage(InterfaceError("connection already closed"))
    assert not is_outage(IntegrityError("duplicate key"))
    assert not is_outage(ValueError("bug"))
    assert not is_outage(DatabaseUnavailable("gave up"))
    # Migrations not run: the command says so in one line; waiting would not help.
    assert not is_outage(OperationalError("no such table: django_brockman_trigger"))


def test_outage_is_retried_with_capped_backoff_then_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    calls, step = failing(8, OperationalError("connection refused"))
    retry = make_retry(clock, base=0.5, cap=4.0)

    with caplog.at_level(logging.WARNING, logger="django_brockman.db"):
        assert retry.run(step) == "done"  # type: ignore[arg-type]

    assert len(calls) == 9
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    messages = [record.getMessage() for record in caplog.records]
    # Logged once when it starts, once when it ends, whatever its length.
    assert len(messages) == 2, messages
    assert "unavailable" in messages[0]
    assert "back after 23.5 s" in messages[1]
    assert not retry.down
    assert retry.outages == 1


def test_patience_ends_the_wait() -> None:
    clock = FakeClock()
    _, step = failing(1000, OperationalError("connection refused"))
    retry = make_retry(clock, patience=10.0, base=1.0, cap=2.0)

    with pytest.raises(DatabaseUnavailable, match="unavailable"):
        retry.run(step)  # type: ignore[arg-type]

    assert 10.0 <= clock.monotonic() <= 12.0
    assert retry.down


class StoppingClock(FakeClock):
    """Sets *stop* (a signal arrives) once three seconds have passed."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop

    def wait(self, event: threading.Event, seconds: float) -> bool:
        if self.monotonic() > 3:
            self.stop.set()
        return super().wait(event, seconds)


def test_stop_ends_the_wait() -> None:
    stop = threading.Event()
    clock = StoppingClock(stop)
    _, step = failing(1000, OperationalError("connection refused"))
    retry = make_retry(clock, stop=stop)

    with pytest.raises(DatabaseUnavailable):
        retry.run(step)  # type: ignore[arg-type]
    assert clock.monotonic() < 10


def test_errors_that_are_not_outages_pass_through_at_once() -> None:
    clock = FakeClock()
    calls, step = failing(1, IntegrityError("duplicate key"))

    with pytest.raises(IntegrityError):
        make_retry(clock).run(step)  # type: ignore[arg-type]
    assert len(calls) == 1
    assert clock.sleeps == []


@pytest.mark.django_db
def test_nothing_is_retried_inside_a_transaction() -> None:
    clock = FakeClock()
    calls, step = failing(1, OperationalError("database is locked"))

    with transaction.atomic(), pytest.raises(OperationalError):
        make_retry(clock).run(step)  # type: ignore[arg-type]
    assert len(calls) == 1


def kill_backend() -> None:
    """Terminate this connection's server process from another connection."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid]
                )
            else:
                cursor.execute(f"KILL {connection.connection.thread_id()}")
    finally:
        other.close()


servers_only = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="a server that drops the connection"
)


@servers_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_runs_again_on_a_fresh_connection_after_the_server_dropped_it() -> None:
    clock = FakeClock()
    Trigger.objects.count()
    kill_backend()

    assert make_retry(clock).run(Trigger.objects.count) == 0
    assert len(clock.sleeps) == 1


@servers_only
@pytest.mark.django_db(transaction=True)
def test_drop_unusable_closes_a_dropped_connection_even_with_conn_max_age_none() -> None:
    old = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = None
    try:
        connection.close()
        Trigger.objects.count()
        raw = connection.connection
        drop_unusable("default")
        assert connection.connection is raw  # a healthy connection is kept

        kill_backend()
        drop_unusable("default")
        assert connection.connection is None
        assert Trigger.objects.count() == 0  # and the next statement reconnects
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = old


@pytest.mark.django_db(transaction=True)
def test_drop_unusable_copes_with_a_driver_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    Trigger.objects.count()

    def broken() -> bool:
        raise OperationalError("the driver cannot tell")

    def failing_close() -> None:
        raise InterfaceError("already closed")

    monkeypatch.setattr(connection, "is_usable", broken)
    monkeypatch.setattr(connection, "_close", failing_close)
    drop_unusable("default")

    assert connection.connection is None
    monkeypatch.undo()
    assert Trigger.objects.count() == 0


def test_drop_unusable_leaves_an_unopened_connection_alone() -> None:
    connection.close()
    drop_unusable("default")
    assert connection.connection is None
