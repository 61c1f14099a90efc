"""flush(): every FocusLab answer against real outbox rows, with the API mocked by responses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.test import override_settings
from django.utils import timezone

from django_brockman import outbox, signals
from django_brockman.engine import FlushResult, Tuning, flush, flush_loop
from django_brockman.models import Status, Trigger
from tests.clock import FakeClock
from tests.conftest import TRIGGER_URL
from tests.testapp.backends import ExplodingBackend

pytestmark = pytest.mark.django_db

Callback = Callable[[requests.PreparedRequest], tuple[int, dict[str, str], str]]


def make_triggers(count: int, **fields: Any) -> list[Trigger]:
    return [
        Trigger.objects.create(actor_id=f"actor-{n}", action="viewed", obj=f"page {n}", **fields)
        for n in range(count)
    ]


def statuses() -> list[tuple[str, int]]:
    return list(Trigger.objects.order_by("pk").values_list("status", "attempts"))


def sent_keys(mocked_api: responses.RequestsMock) -> list[str]:
    return [str(call.request.headers["Idempotency-Key"]) for call in mocked_api.calls]


@pytest.fixture
def collected() -> Iterator[list[dict[str, Any]]]:
    """What trigger_sent and trigger_failed announced."""
    seen: list[dict[str, Any]] = []

    def receiver(signal: Any, **kwargs: Any) -> None:
        seen.append({"signal": signal, **kwargs})

    signals.trigger_sent.connect(receiver)
    signals.trigger_failed.connect(receiver)
    yield seen
    signals.trigger_sent.disconnect(receiver)
    signals.trigger_failed.disconnect(receiver)


def test_flush_201_marks_sent(
    mocked_api: responses.RequestsMock, collected: list[dict[str, Any]]
) -> None:
    triggers = make_triggers(3)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    result = flush(concurrency=1)

    assert (result.claimed, result.sent, result.retried, result.failed) == (3, 3, 0, 0)
    assert statuses() == [(Status.SENT, 1)] * 3
    assert sent_keys(mocked_api) == [str(t.uuid) for t in triggers]
    assert [item["trigger"].pk for item in collected] == [t.pk for t in triggers]
    assert all(item["signal"] is signals.trigger_sent for item in collected)
    assert Trigger.objects.filter(sent_at__isnull=True).count() == 0


def test_flush_400_fails_at_once_with_reason(
    mocked_api: responses.RequestsMock, collected: list[dict[str, Any]]
) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=400, body="object is required")

    result = flush(concurrency=1)

    assert (result.sent, result.failed, result.error) == (0, 1, None)
    row = Trigger.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert "HTTP 400" in row.last_error
    assert "object is required" in row.last_error
    assert collected[0]["signal"] is signals.trigger_failed
    assert collected[0]["error"] == row.last_error


@pytest.mark.parametrize("status", [409, 413, 422])
def test_flush_other_4xx_fails_at_once(mocked_api: responses.RequestsMock, status: int) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    assert flush(concurrency=1).failed == 1
    assert statuses() == [(Status.FAILED, 1)]


@pytest.mark.parametrize(
    ("status", "setting"),
    [(401, "BROCKMAN_API_KEY"), (403, "BROCKMAN_API_KEY"), (404, "BROCKMAN_ENDPOINT")],
)
def test_flush_configuration_error_stops_run_and_releases_rows(
    mocked_api: responses.RequestsMock, status: int, setting: str
) -> None:
    make_triggers(3)
    mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    result = flush(concurrency=1)

    assert result.error is not None
    assert setting in result.error
    assert (result.sent, result.retried, result.failed, result.released) == (0, 0, 0, 3)
    assert not result.interrupted
    assert len(mocked_api.calls) == 1  # the run stopped at the first answer
    assert statuses() == [(Status.PENDING, 0)] * 3
    assert not Trigger.objects.exclude(claim_token=None).exists()
    assert not Trigger.objects.filter(next_attempt_at__gt=timezone.now()).exists()


def test_flush_configuration_error_with_threads_releases_everything(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(20)
    mocked_api.add(responses.POST, TRIGGER_URL, status=401)

    result = flush(concurrency=4, batch_size=10)

    assert result.error is not None
    assert (result.failed, result.retried, result.sent) == (0, 0, 0)
    assert result.claimed == 10  # no second batch was claimed
    assert statuses() == [(Status.PENDING, 0)] * 20


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_flush_transient_status_is_retried_with_backoff(
    mocked_api: responses.RequestsMock, status: int
) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=status, body="try later")
    before = timezone.now()

    with override_settings(BROCKMAN_RETRY_BASE_SECONDS=30, BROCKMAN_RETRY_CAP_SECONDS=60):
        result = flush(concurrency=1)

    assert (result.sent, result.retried, result.failed) == (0, 1, 0)
    row = Trigger.objects.get()
    assert (row.status, row.attempts, row.claim_token) == (Status.PENDING, 1, None)
    assert before <= row.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert f"HTTP {status}" in row.last_error


@pytest.mark.parametrize(
    "error",
    [
        requests.ConnectTimeout("connect timed out"),
        requests.ReadTimeout("read timed out"),
        requests.ConnectionError("connection refused"),
        requests.exceptions.ChunkedEncodingError("connection dropped"),
    ],
    ids=["connect-timeout", "read-timeout", "refused", "dropped"],
)
def test_flush_network_failure_is_retried(
    mocked_api: responses.RequestsMock, error: Exception
) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, body=error)

    result = flush(concurrency=1)

    assert result.retried == 1
    row = Trigger.objects.get()
    assert (row.status, row.attempts) == (Status.PENDING, 1)
    assert row.last_error


def test_flush_retry_after_sets_earliest_next_attempt(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=429, headers={"Retry-After": "120"})
    before = timezone.now()

    with override_settings(BROCKMAN_RETRY_BASE_SECONDS=1, BROCKMAN_RETRY_CAP_SECONDS=2):
        flush(concurrency=1)

    assert Trigger.objects.get().next_attempt_at >= before + timedelta(seconds=120)


def test_flush_retry_after_http_date(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1)
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    mocked_api.add(responses.POST, TRIGGER_URL, status=503, headers={"Retry-After": header})

    with override_settings(BROCKMAN_RETRY_BASE_SECONDS=1, BROCKMAN_RETRY_CAP_SECONDS=2):
        flush(concurrency=1)

    assert Trigger.objects.get().next_attempt_at == when


@override_settings(BROCKMAN_MAX_ATTEMPTS=3)
def test_flush_last_attempt_fails_with_last_error(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1, attempts=2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=503, body="still down")

    result = flush(concurrency=1)

    assert result.failed == 1
    row = Trigger.objects.get()
    assert (row.status, row.attempts) == (Status.FAILED, 3)
    assert row.last_error.startswith("gave up after 3 attempts")
    assert "still down" in row.last_error


def test_flush_not_due_triggers_are_left_alone(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1, next_attempt_at=timezone.now() + timedelta(minutes=1))

    assert flush(concurrency=1) == FlushResult()
    assert len(mocked_api.calls) == 0


def test_flush_limit_claims_at_most_n(mocked_api: responses.RequestsMock) -> None:
    make_triggers(5)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    result = flush(limit=2, batch_size=10, concurrency=1)

    assert (result.claimed, result.sent) == (2, 2)
    assert [status for status, _ in statuses()] == [Status.SENT] * 2 + [Status.PENDING] * 3


def test_flush_drains_many_batches(mocked_api: responses.RequestsMock) -> None:
    triggers = make_triggers(25)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    result = flush(batch_size=4, concurrency=1)

    assert (result.claimed, result.sent) == (25, 25)
    assert sent_keys(mocked_api) == [str(t.uuid) for t in triggers]


def test_flush_with_threads_sends_each_trigger_once(mocked_api: responses.RequestsMock) -> None:
    triggers = make_triggers(40)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    result = flush(batch_size=7, concurrency=4)

    assert (result.claimed, result.sent) == (40, 40)
    assert sorted(sent_keys(mocked_api)) == sorted(str(t.uuid) for t in triggers)
    assert statuses() == [(Status.SENT, 1)] * 40


def test_flush_mixed_answers_each_settled(mocked_api: responses.RequestsMock) -> None:
    make_triggers(4)
    for status in (201, 503, 400, 201):
        mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    result = flush(concurrency=1)

    assert (result.sent, result.retried, result.failed) == (2, 1, 1)
    assert statuses() == [
        (Status.SENT, 1),
        (Status.PENDING, 1),
        (Status.FAILED, 1),
        (Status.SENT, 1),
    ]


def slow_201(seconds: float, hook: Callable[[], None] = lambda: None) -> Callback:
    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        hook()
        time.sleep(seconds)
        return 201, {}, ""

    return callback


def test_flush_stop_finishes_request_in_flight_and_releases_rest(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(5)
    stop = threading.Event()
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=slow_201(0, stop.set))

    result = flush(concurrency=1, stop=stop)

    assert result.interrupted
    assert (result.sent, result.released) == (1, 4)
    assert statuses() == [(Status.SENT, 1)] + [(Status.PENDING, 0)] * 4


def test_flush_stop_with_threads_releases_all_unsent(mocked_api: responses.RequestsMock) -> None:
    make_triggers(30)
    stop = threading.Event()
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=slow_201(0.05, stop.set))

    result = flush(batch_size=30, concurrency=3, stop=stop)

    assert result.interrupted
    assert 1 <= result.sent <= 3
    assert result.sent + result.released == 30
    assert Trigger.objects.filter(status=Status.SENT).count() == result.sent
    assert not Trigger.objects.filter(status=Status.SENDING).exists()
    assert not Trigger.objects.filter(status=Status.PENDING, attempts__gt=0).exists()


def taking(clock: FakeClock, seconds: float) -> Callback:
    """A 201 that takes *seconds* of the fake clock's time."""

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        clock.advance(seconds)
        return 201, {}, ""

    return callback


def test_flush_max_seconds_stops_sending_and_releases_rest(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(10)
    clock = FakeClock()
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=taking(clock, 0.4))

    result = flush(batch_size=10, concurrency=1, max_seconds=1.0, clock=clock)

    assert not result.interrupted
    # Three requests take 1.2 s: none starts after the first second.
    assert (result.sent, result.released) == (3, 7)
    assert not Trigger.objects.filter(status=Status.SENDING).exists()


@override_settings(BROCKMAN_LEASE_SECONDS=12, BROCKMAN_TIMEOUT=10)
def test_flush_does_not_start_request_when_lease_is_ending(
    mocked_api: responses.RequestsMock,
) -> None:
    # A request may take the whole timeout: with 12 s of lease and 11 s of margin, only
    # the first second of each claim may start one. The rest go back and are claimed anew.
    triggers = make_triggers(3)
    clock = FakeClock()
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=taking(clock, 1.1))

    result = flush(batch_size=3, concurrency=1, clock=clock)

    assert result.sent == 3
    # Each claim sends one: the second request would start 1.1 s into the lease.
    assert result.released == 3
    assert result.claimed == 3 + result.released
    assert sorted(sent_keys(mocked_api)) == sorted(str(t.uuid) for t in triggers)
    assert statuses() == [(Status.SENT, 1)] * 3


@override_settings(BROCKMAN_LEASE_SECONDS=5, BROCKMAN_TIMEOUT=10)
def test_flush_lease_shorter_than_timeout_is_refused(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1)

    with pytest.raises(ImproperlyConfigured, match="BROCKMAN_LEASE_SECONDS"):
        flush()
    assert statuses() == [(Status.PENDING, 0)]


@override_settings(BROCKMAN_API_KEY="")
@pytest.mark.parametrize("concurrency", [1, 4])
def test_flush_backend_misconfigured_claims_nothing(concurrency: int) -> None:
    make_triggers(2)

    with pytest.raises(ImproperlyConfigured, match="BROCKMAN_API_KEY"):
        flush(concurrency=concurrency)
    assert statuses() == [(Status.PENDING, 0)] * 2


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": 0}, {"batch_size": 0}, {"concurrency": -1}, {"max_seconds": 0.0}],
)
def test_flush_bad_argument_raises(kwargs: dict[str, Any]) -> None:
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        flush(**kwargs)


@pytest.mark.parametrize("concurrency", [1, 3])
def test_flush_backend_bug_stops_run_releases_rest_and_raises(concurrency: int) -> None:
    make_triggers(6)
    ExplodingBackend.sent = []

    with pytest.raises(RuntimeError, match="bug in a backend"):
        flush(
            backend="tests.testapp.backends.ExplodingBackend",
            batch_size=6,
            concurrency=concurrency,
        )

    rows = {row.obj: row for row in Trigger.objects.all()}
    # The trigger that raised spent an attempt: one that always does cannot block the queue.
    assert (rows["page 1"].status, rows["page 1"].attempts) == (Status.PENDING, 1)
    assert "RuntimeError: bug in a backend" in rows["page 1"].last_error
    assert rows["page 1"].next_attempt_at > timezone.now() - timedelta(seconds=1)
    assert not Trigger.objects.filter(status=Status.SENDING).exists()
    assert set(ExplodingBackend.sent) == {
        obj for obj, row in rows.items() if row.status == Status.SENT
    }
    if concurrency == 1:
        assert ExplodingBackend.sent == ["page 0"]
        assert [rows[f"page {n}"].attempts for n in range(2, 6)] == [0] * 4


def test_flush_interrupted_mid_request_releases_unsent_keeps_unknown_leased(
    mocked_api: responses.RequestsMock,
) -> None:
    # Ctrl-C without the command's signal handlers (flush() called from a shell) breaks
    # off the third request: whether FocusLab got it is unknown.
    make_triggers(8)
    calls = iter(range(8))

    def callback(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        if next(calls) == 2:
            raise KeyboardInterrupt
        return 201, {}, ""

    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=callback)

    with pytest.raises(KeyboardInterrupt):
        flush(batch_size=8, concurrency=1)

    assert [status for status, _ in statuses()] == (
        [Status.SENT] * 2 + [Status.SENDING] + [Status.PENDING] * 5
    )
    # The broken-off one stays leased: sent again only when its lease ends, same key.
    assert Trigger.objects.get(status=Status.SENDING).next_attempt_at > timezone.now()
    assert Trigger.objects.filter(status=Status.PENDING, attempts=0).count() == 5


def test_flush_database_error_while_claiming_lets_in_flight_finish(
    mocked_api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_triggers(6)
    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=slow_201(0.05))
    claim_batch = outbox.claim_batch
    claims = iter(range(2))

    def failing_claim(*args: Any, **kwargs: Any) -> outbox.Claim:
        if next(claims):
            raise DatabaseError("connection lost")
        return claim_batch(*args, **kwargs)

    monkeypatch.setattr(outbox, "claim_batch", failing_claim)

    with pytest.raises(DatabaseError):
        flush(batch_size=3, concurrency=2)

    rows = statuses()
    # Whatever the first claim sent is recorded, the rest of it released; the second
    # claim never happened.
    assert not [row for row in rows[:3] if row[0] == Status.SENDING]
    assert {row[0] for row in rows[:3]} <= {Status.SENT, Status.PENDING}
    assert Trigger.objects.filter(status=Status.SENT).count() == len(mocked_api.calls)
    assert rows[3:] == [(Status.PENDING, 0)] * 3


def test_flush_signal_receiver_error_does_not_lose_results(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(3)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    def broken(**kwargs: Any) -> None:
        raise ValueError("receiver bug")

    signals.trigger_sent.connect(broken)
    try:
        result = flush(concurrency=1)
    finally:
        signals.trigger_sent.disconnect(broken)

    assert result.sent == 3
    assert statuses() == [(Status.SENT, 1)] * 3


def test_flush_reclaims_rows_whose_lease_expired(mocked_api: responses.RequestsMock) -> None:
    (trigger,) = make_triggers(1)
    Trigger.objects.update(
        status=Status.SENDING,
        claim_token="00000000-0000-0000-0000-000000000001",
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)

    assert flush(concurrency=1).sent == 1
    assert sent_keys(mocked_api) == [str(trigger.uuid)]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_flush_streams_the_backlog_in_batches(
    mocked_api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, concurrency: int
) -> None:
    # However long the queue, a run holds little more than one batch beyond what is in
    # flight: it claims only when the deliverer runs short, never the whole backlog.
    make_triggers(120)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    claim_batch = outbox.claim_batch
    held_at_claim: list[int] = []

    def recording_claim(size: int, *args: Any, **kwargs: Any) -> outbox.Claim:
        assert size <= 10
        held_at_claim.append(Trigger.objects.filter(status=Status.SENDING).count())
        return claim_batch(size, *args, **kwargs)

    monkeypatch.setattr(outbox, "claim_batch", recording_claim)
    tuning = Tuning(write_back_size=20)

    result = flush(batch_size=10, concurrency=concurrency, tuning=tuning)

    assert result.sent == 120
    assert len(held_at_claim) == 13  # twelve batches, then one that finds nothing due
    # Held: results not yet written back (at most a write-back group), and fewer than
    # *concurrency* requests in flight plus one queued behind each.
    assert max(held_at_claim) < tuning.write_back_size + 2 * concurrency


def test_flush_writes_a_claims_results_back_once_all_are_in(
    mocked_api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither the size nor the age of the buffer calls for a write-back here: only a claim
    # being fully answered does. So a crash can repeat requests of one batch only.
    make_triggers(12)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    tuning = Tuning(write_back_size=1000, write_back_seconds=1000.0)
    claim_batch = outbox.claim_batch
    sent_at_claim: list[int] = []

    def recording_claim(*args: Any, **kwargs: Any) -> outbox.Claim:
        sent_at_claim.append(Trigger.objects.filter(status=Status.SENT).count())
        return claim_batch(*args, **kwargs)

    monkeypatch.setattr(outbox, "claim_batch", recording_claim)

    assert flush(batch_size=5, concurrency=1, tuning=tuning).sent == 12

    # Claims 2 and 3 come while the previous batch's last trigger is still queued; by
    # then every earlier batch is written back.
    assert sent_at_claim == [0, 0, 5, 10]


def test_flush_refuses_to_run_inside_a_transaction(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1)

    with transaction.atomic(), pytest.raises(RuntimeError, match="inside a database transaction"):
        flush(concurrency=1)

    assert len(mocked_api.calls) == 0
    assert statuses() == [(Status.PENDING, 0)]


@pytest.mark.django_db(transaction=True)
def test_flush_loop_sleeps_on_its_clock_only_when_nothing_was_due(
    mocked_api: responses.RequestsMock,
) -> None:
    make_triggers(2)
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    clock, stop = FakeClock(), threading.Event()
    reported: list[int] = []

    def report(result: FlushResult) -> None:
        reported.append(result.sent)
        if len(reported) == 3:
            stop.set()

    last = flush_loop(interval=5.0, stop=stop, report=report, clock=clock, concurrency=1)

    # A run that sent something is followed at once by the next; an empty one by a sleep.
    assert reported == [2, 0, 0]
    assert clock.monotonic() == 5.0
    assert last.claimed == 0


@pytest.mark.django_db(transaction=True)
@override_settings(BROCKMAN_API_KEY="rejected-key-value")
def test_flush_loop_ends_on_a_configuration_error(mocked_api: responses.RequestsMock) -> None:
    make_triggers(1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=401)

    result = flush_loop(interval=5.0, clock=FakeClock(), concurrency=1)

    assert result.error is not None
    assert statuses() == [(Status.PENDING, 0)]


@pytest.mark.parametrize(("status", "signal"), [(201, "trigger_sent"), (400, "trigger_failed")])
def test_flush_signal_passes_the_trigger_as_its_row_was_written(
    mocked_api: responses.RequestsMock,
    collected: list[dict[str, Any]],
    status: int,
    signal: str,
) -> None:
    make_triggers(1, last_error="HTTP 503", attempts=1)
    mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    flush(concurrency=1)

    (seen,) = collected
    assert seen["signal"] is getattr(signals, signal)
    row = Trigger.objects.get()
    columns = ("status", "attempts", "claim_token", "last_error", "updated_at", "sent_at")
    assert {name: getattr(seen["trigger"], name) for name in columns} == {
        name: getattr(row, name) for name in columns
    }
