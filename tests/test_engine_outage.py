"""flush() through a database outage, in one process: the outage is injected into the
outbox's statements; the clock of the backoff is a fake one, so nothing waits."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import responses
from django.db import OperationalError

from django_brockman import outbox
from django_brockman.dbretry import DatabaseRetry, DatabaseUnavailable
from django_brockman.engine import flush
from django_brockman.models import Status, Trigger
from tests.conftest import TRIGGER_URL

pytestmark = pytest.mark.django_db


class Outage:
    """Makes outbox.mark_sent fail while "the database is away"; records what happens then."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, failures: int) -> None:
        self.failures = failures
        self.now = 0.0
        self.requests_while_down: int | None = None
        self.mocked: responses.RequestsMock | None = None
        real = outbox.mark_sent

        def mark_sent(*args: Any, **kwargs: Any) -> int:
            if self.failures:
                self.failures -= 1
                raise OperationalError("server closed the connection unexpectedly")
            return real(*args, **kwargs)

        monkeypatch.setattr(outbox, "mark_sent", mark_sent)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert self.mocked is not None
        calls = len(self.mocked.calls)
        if self.requests_while_down is None:
            self.requests_while_down = calls
        # No request is started while the database is away; the two in flight (one per
        # sender) may finish.
        assert calls <= self.requests_while_down + 2
        self.now += seconds


def make_triggers(count: int) -> None:
    Trigger.objects.bulk_create(
        Trigger(actor_id=f"actor-{n}", action="viewed", obj=f"page {n}") for n in range(count)
    )


@pytest.mark.django_db(transaction=True)
def test_results_are_kept_through_an_outage_and_each_trigger_sent_once(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(30)
    outage = Outage(monkeypatch, failures=4)
    outage.mocked = mocked_api
    retry = DatabaseRetry("default", clock=outage.clock, sleep=outage.sleep)

    result = flush(batch_size=10, concurrency=2, db_retry=retry)

    keys = Counter(str(call.request.headers["Idempotency-Key"]) for call in mocked_api.calls)
    assert len(keys) == 30
    assert max(keys.values()) == 1
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}
    assert result.sent == 30
    assert result.lost == 0
    assert outage.requests_while_down is not None
    assert retry.outages == 1
    assert not retry.down


@pytest.mark.django_db(transaction=True)
def test_an_outage_longer_than_the_patience_ends_the_run(
    monkeypatch: pytest.MonkeyPatch, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    make_triggers(5)
    outage = Outage(monkeypatch, failures=10_000)
    outage.mocked = mocked_api
    retry = DatabaseRetry("default", patience=30, clock=outage.clock, sleep=outage.sleep)

    with pytest.raises(DatabaseUnavailable):
        flush(batch_size=10, db_retry=retry)

    # What could not be written stays claimed until its lease ends: not sent again now.
    assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENDING}
    assert 30 <= outage.now <= 40
