"""Writing delivery results back: few statements however many rows, never another's rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from django_brockman import engine, outbox, record_triggers, signals, transitions
from django_brockman.backends.base import BaseBackend
from django_brockman.exceptions import BadRequest, ServerError
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db


class UnavailableBackend(BaseBackend):
    """FocusLab answering 503 to everything."""

    def send(self, trigger: Trigger) -> None:
        raise ServerError(status=503, body="down")


class RejectingBackend(BaseBackend):
    """FocusLab answering 400 to every trigger whose object is "bad"."""

    def send(self, trigger: Trigger) -> None:
        if trigger.obj == "bad":
            raise BadRequest(status=400, body="bad trigger")


def record(count: int, obj: str = "page") -> None:
    record_triggers(None, [{"action": "viewed", "obj": obj, "actor_id": "a1"}] * count)


def test_write_retries_gives_each_row_its_own_due_time_and_error(
    django_assert_num_queries: Any,
) -> None:
    record(3)
    claim = outbox.claim_batch(10, 300)
    first, second, third = (trigger.pk for trigger in claim.triggers)
    now = timezone.now()
    retries = {
        first: (now + timedelta(seconds=5), "HTTP 503"),
        second: (now + timedelta(seconds=60), "timed out"),
    }

    held = transitions.held_by(claim.token, claim.using)
    changes = {pk: transitions.retried(at, error, now) for pk, (at, error) in retries.items()}

    with django_assert_num_queries(1):
        written = transitions.write(held, changes)

    assert written == 2
    rows = Trigger.objects.in_bulk([first, second, third])
    for pk, (retry_at, error) in retries.items():
        row = rows[pk]
        assert (row.status, row.next_attempt_at, row.last_error) == (
            Status.PENDING,
            retry_at,
            error,
        )
        assert (row.attempts, row.claim_token) == (1, None)
    assert (rows[third].status, rows[third].attempts) == (Status.SENDING, 0)


def test_write_retries_leaves_rows_another_claim_took() -> None:
    record(2)
    stale = outbox.claim_batch(10, 300)
    taken = stale.triggers[0].pk
    # The lease ran out and another flusher claimed the first row.
    Trigger.objects.filter(pk=taken).update(next_attempt_at=timezone.now())
    newer = outbox.claim_batch(10, 300)
    assert [trigger.pk for trigger in newer.triggers] == [taken]
    retry_at = timezone.now() + timedelta(seconds=30)

    retried = transitions.retried(retry_at, "HTTP 503", timezone.now())
    held = transitions.held_by(stale.token, stale.using)
    written = transitions.write(held, {t.pk: retried for t in stale.triggers})

    assert written == 1
    row = Trigger.objects.get(pk=taken)
    assert (row.status, row.claim_token, row.attempts) == (Status.SENDING, newer.token, 0)


def test_write_retries_with_nothing_to_write_makes_no_query(
    django_assert_num_queries: Any,
) -> None:
    record(1)
    claim = outbox.claim_batch(10, 300)

    with django_assert_num_queries(0):
        assert transitions.write(transitions.held_by(claim.token, claim.using), {}) == 0


def test_flush_writes_retries_back_in_one_update_per_claim(
    django_assert_max_num_queries: Any,
) -> None:
    record(40)

    # Claim (at most three statements) and write-back (one) for the batch, then an empty
    # claim: far fewer statements than the 40 rows.
    with django_assert_max_num_queries(6):
        result = engine.flush(
            backend=f"{__name__}.UnavailableBackend", batch_size=40, concurrency=1, limit=40
        )

    assert (result.retried, result.sent, result.failed, result.lost) == (40, 0, 0, 0)
    rows = list(Trigger.objects.all())
    assert {(row.status, row.attempts) for row in rows} == {(Status.PENDING, 1)}
    assert all("HTTP 503" in row.last_error for row in rows)
    # Backoff has jitter: each row got its own due time, not one shared value.
    assert len({row.next_attempt_at for row in rows}) == 40


def test_flush_sends_trigger_failed_once_per_failed_row() -> None:
    record(2, obj="bad")
    record(3)
    failed: list[str] = []

    def receiver(sender: object, trigger: Trigger, error: str, **kwargs: object) -> None:
        failed.append(error)

    signals.trigger_failed.connect(receiver)
    try:
        result = engine.flush(backend=f"{__name__}.RejectingBackend", concurrency=1)
    finally:
        signals.trigger_failed.disconnect(receiver)

    assert (result.sent, result.failed, result.retried) == (3, 2, 0)
    assert len(failed) == 2
    assert all("HTTP 400" in error for error in failed)
    statuses = dict(Trigger.objects.values_list("obj", "status").distinct())
    assert statuses == {"bad": Status.FAILED, "page": Status.SENT}


def test_flush_with_threads_writes_every_result_back() -> None:
    record(30, obj="bad")
    record(70)

    result = engine.flush(backend=f"{__name__}.RejectingBackend", concurrency=8, batch_size=25)

    assert (result.sent, result.failed, result.lost, result.claimed) == (70, 30, 0, 100)
    assert Trigger.objects.filter(status=Status.SENT, attempts=1, obj="page").count() == 70
    assert Trigger.objects.filter(status=Status.FAILED, attempts=1, obj="bad").count() == 30
