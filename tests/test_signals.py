"""signals: trigger_recorded after commit; trigger_sent and trigger_failed from a flush."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses
from django.db import transaction
from django.dispatch import Signal
from django.test import Client

from django_brockman import arecord_trigger, record_trigger, record_triggers, signals
from django_brockman.engine import flush
from django_brockman.models import Status, Trigger
from tests.conftest import TRIGGER_URL, run_async


class Listener:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, sender: object, **kwargs: Any) -> None:
        kwargs.pop("signal")
        self.calls.append({"sender": sender, **kwargs})


def listen(signal: Signal) -> Iterator[Listener]:
    listener = Listener()
    signal.connect(listener)
    yield listener
    signal.disconnect(listener)


@pytest.fixture
def recorded() -> Iterator[Listener]:
    yield from listen(signals.trigger_recorded)


@pytest.fixture
def sent() -> Iterator[Listener]:
    yield from listen(signals.trigger_sent)


@pytest.fixture
def failed() -> Iterator[Listener]:
    yield from listen(signals.trigger_failed)


@pytest.mark.django_db(transaction=True)
def test_trigger_recorded_is_sent_after_commit(recorded: Listener) -> None:
    with transaction.atomic():
        trigger = record_trigger(None, "viewed", "page", actor_id="a")
        assert recorded.calls == []

    assert recorded.calls == [{"sender": Trigger, "trigger": trigger}]


@pytest.mark.django_db(transaction=True)
def test_trigger_recorded_is_not_sent_on_rollback(recorded: Listener) -> None:
    with transaction.atomic():
        record_trigger(None, "viewed", "page", actor_id="a")
        transaction.set_rollback(True)

    assert recorded.calls == []


@pytest.mark.django_db(transaction=True)
def test_trigger_recorded_is_sent_for_arecord_trigger(recorded: Listener) -> None:
    trigger = run_async(arecord_trigger(None, "viewed", "page", actor_id="a"))

    assert recorded.calls == [{"sender": Trigger, "trigger": trigger}]


@pytest.mark.django_db
def test_trigger_sent_is_sent_for_each_delivered_trigger(
    mocked_api: responses.RequestsMock, sent: Listener, failed: Listener
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    first = record_trigger(None, "viewed", "page", actor_id="a")
    second = record_trigger(None, "viewed", "page", actor_id="b")

    result = flush(concurrency=1)

    assert result.sent == 2
    assert [call["trigger"].uuid for call in sent.calls] == [first.uuid, second.uuid]  # type: ignore[union-attr]
    assert {call["sender"] for call in sent.calls} == {Trigger}
    assert all(call["trigger"].status == Status.SENT for call in sent.calls)
    assert failed.calls == []


@pytest.mark.django_db
def test_trigger_failed_is_sent_with_the_error(
    mocked_api: responses.RequestsMock, sent: Listener, failed: Listener
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=400, body='{"detail": "bad object"}')
    trigger = record_trigger(None, "viewed", "page", actor_id="a")
    assert trigger is not None

    result = flush(concurrency=1)

    assert result.failed == 1
    assert sent.calls == []
    [call] = failed.calls
    assert call["sender"] is Trigger
    assert call["trigger"].uuid == trigger.uuid
    assert call["trigger"].status == Status.FAILED
    assert "400" in call["error"]
    assert call["error"] == Trigger.objects.get().last_error


@pytest.mark.django_db
def test_trigger_failed_is_not_sent_for_a_retry(
    mocked_api: responses.RequestsMock, failed: Listener
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=503)
    record_trigger(None, "viewed", "page", actor_id="a")

    assert flush(concurrency=1).retried == 1
    assert failed.calls == []


@pytest.mark.django_db(transaction=True)
def test_trigger_sent_is_not_sent_for_a_row_erased_while_in_flight(
    mocked_api: responses.RequestsMock, sent: Listener
) -> None:
    kept = record_trigger(None, "viewed", "page", actor_id="kept")
    erased = record_trigger(None, "viewed", "page", actor_id="erased")
    assert kept is not None
    assert erased is not None

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        # An erasure request removes one row while its request is in flight.
        Trigger.objects.filter(pk=erased.pk).delete()
        return 201, {}, ""

    mocked_api.add_callback(responses.POST, TRIGGER_URL, callback=answer)

    result = flush(concurrency=1)

    assert (result.sent, result.lost) == (1, 1)
    assert [call["trigger"].uuid for call in sent.calls] == [kept.uuid]


class ReceiverBug(Exception):
    pass


def broken_receiver(sender: object, **kwargs: Any) -> None:
    raise ReceiverBug("a bug in the site's receiver")


@pytest.fixture
def broken() -> Iterator[None]:
    signals.trigger_recorded.connect(broken_receiver)
    yield
    signals.trigger_recorded.disconnect(broken_receiver)


def receiver_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name.startswith("django_brockman")
        and record.exc_info is not None
        and isinstance(record.exc_info[1], ReceiverBug)
    ]


RECORDERS = pytest.mark.parametrize(
    "record",
    [
        lambda: record_trigger(None, "viewed", "page", actor_id="a"),
        lambda: run_async(arecord_trigger(None, "viewed", "page", actor_id="a")),
        lambda: record_triggers(None, [{"action": "viewed", "obj": "page", "actor_id": "a"}]),
    ],
    ids=["record_trigger", "arecord_trigger", "record_triggers"],
)


@pytest.mark.django_db(transaction=True)
@RECORDERS
@pytest.mark.usefixtures("broken")
def test_trigger_recorded_receiver_error_is_logged_and_later_callbacks_run(
    record: Callable[[], object], recorded: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    confirmations: list[str] = []

    with transaction.atomic():
        record()
        # The site's own callback, registered after the trigger: its confirmation email.
        transaction.on_commit(lambda: confirmations.append("sent"))

    assert confirmations == ["sent"]
    assert len(recorded.calls) == 1  # the receivers after the broken one still hear of it
    [error] = receiver_errors(caplog)
    assert error.levelname == "ERROR"
    assert "broken_receiver" in error.getMessage()
    assert Trigger.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("broken")
def test_trigger_recorded_receiver_error_never_breaks_the_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client()
    client.cookies["fl_actor_id"] = "a-visitor"

    response = client.get("/visit/")

    assert response.status_code == 200
    assert Trigger.objects.count() == 1
    assert len(receiver_errors(caplog)) == 1
