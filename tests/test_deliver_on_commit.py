"""BROCKMAN_DELIVER_ON_COMMIT: each trigger delivered once its transaction commits, in
the same process, by the flusher's own claim, send and write-back."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator

import pytest
from django.core.checks import Error, Warning
from django.db import transaction
from django.test import Client, override_settings

from django_brockman import outbox, record_trigger, record_triggers
from django_brockman.backends import locmem
from django_brockman.checks import check_deliver_on_commit
from django_brockman.models import Status, Trigger
from django_brockman.oncommit import deliver_now
from django_brockman.receiver import Faults, Receiver
from tests.processes import ROOT, command_env
from tests.testapp.views import Boom

pytestmark = pytest.mark.django_db(transaction=True)

LOCMEM = "django_brockman.backends.locmem.LocmemBackend"


@pytest.fixture(autouse=True)
def sent() -> Iterator[list[Trigger]]:
    locmem.sent.clear()
    yield locmem.sent
    locmem.sent.clear()


def state() -> list[tuple[str, int]]:
    return list(Trigger.objects.order_by("pk").values_list("status", "attempts"))


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=True, BROCKMAN_BACKEND=LOCMEM)
def test_delivered_after_commit_and_row_written_as_the_flusher_would(
    sent: list[Trigger],
) -> None:
    with transaction.atomic():
        trigger = record_trigger(None, "viewed", "page", actor_id="a")
        assert sent == []  # not before the commit
    assert trigger is not None
    assert [t.uuid for t in sent] == [trigger.uuid]
    row = Trigger.objects.get()
    assert (row.status, row.attempts, row.claim_token) == (Status.SENT, 1, None)
    assert row.sent_at is not None


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=True, BROCKMAN_BACKEND=LOCMEM)
def test_rollback_records_nothing_and_sends_nothing(sent: list[Trigger]) -> None:
    with pytest.raises(Boom):
        Client().get("/record-then-fail/")
    assert sent == []
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=True, BROCKMAN_BACKEND=LOCMEM)
def test_bulk_delivered_after_commit(sent: list[Trigger]) -> None:
    with transaction.atomic():
        record_triggers(None, [{"action": "a", "obj": f"o{n}", "actor_id": "x"} for n in range(3)])
    assert len(sent) == 3
    assert state() == [(Status.SENT, 1)] * 3


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=False, BROCKMAN_BACKEND=LOCMEM)
def test_off_by_default_sends_nothing(sent: list[Trigger]) -> None:
    record_trigger(None, "viewed", "page", actor_id="a")
    assert sent == []
    assert state() == [(Status.PENDING, 0)]


@override_settings(
    BROCKMAN_DELIVER_ON_COMMIT=True,
    BROCKMAN_DESTINATIONS={"default": {}, "eu": {"BACKEND": LOCMEM}},
)
def test_goes_through_its_destination_backend(sent: list[Trigger]) -> None:
    # "default" would POST to an unreachable test endpoint; "eu" delivers to locmem.
    record_trigger(None, "viewed", "page", actor_id="a", destination="eu")
    assert len(sent) == 1
    assert state() == [(Status.SENT, 1)]


@override_settings(
    BROCKMAN_DELIVER_ON_COMMIT=True,
    BROCKMAN_BACKEND="tests.testapp.backends.ExplodingBackend",
)
def test_failure_leaves_the_row_to_the_flusher_and_never_breaks_the_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client(raise_request_exception=True)
    with caplog.at_level(logging.ERROR, "django_brockman.engine"):
        # ExplodingBackend raises a bug's exception for "page 1".
        with transaction.atomic():
            record_trigger(None, "viewed", "page 1", actor_id="a")
        response = client.get("/record/")
    assert response.status_code == 200
    assert "Could not deliver 1 triggers on commit" in caplog.text
    first = Trigger.objects.get(obj="page 1")
    assert first.status == Status.PENDING
    assert first.claim_token is None


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=True, BROCKMAN_BACKEND=LOCMEM)
def test_a_row_another_flusher_holds_is_not_sent_again(sent: list[Trigger]) -> None:
    with override_settings(BROCKMAN_DELIVER_ON_COMMIT=False):
        trigger = record_trigger(None, "viewed", "page", actor_id="a")
    assert trigger is not None
    claim = outbox.claim_batch(10, 300)
    assert [t.pk for t in claim.triggers] == [trigger.pk]

    deliver_now([trigger.pk], "default")

    assert sent == []
    row = Trigger.objects.get()
    assert (row.status, row.claim_token) == (Status.SENDING, claim.token)


def test_with_a_real_receiver() -> None:
    with (
        Receiver(api_key="dev-key") as receiver,
        override_settings(
            BROCKMAN_DELIVER_ON_COMMIT=True,
            BROCKMAN_API_KEY="dev-key",
            BROCKMAN_ENDPOINT=receiver.url,
        ),
    ):
        uuid = Client().get("/record/").content.decode()
        assert receiver.idempotency_keys() == [uuid]
        assert state() == [(Status.SENT, 1)]
        # A server error leaves the next one for the flusher, retried as it would be.
        receiver.faults = Faults(error_rate=1.0)
        response = Client().get("/record/")
        assert response.status_code == 200
        assert receiver.idempotency_keys() == [uuid]
    second = Trigger.objects.order_by("pk").last()
    assert second is not None
    assert (second.status, second.attempts) == (Status.PENDING, 1)
    assert second.last_error.startswith("HTTP 50")


@pytest.mark.parametrize(
    ("value", "debug", "expected"),
    [
        (False, False, []),
        (True, True, []),
        (True, False, [(Warning, "brockman.W060")]),
        ("yes", True, [(Error, "brockman.E060")]),
    ],
)
def test_check_deliver_on_commit(value: object, debug: bool, expected: list[object]) -> None:
    with override_settings(BROCKMAN_DELIVER_ON_COMMIT=value, DEBUG=debug):
        assert [(type(m), m.id) for m in check_deliver_on_commit()] == expected


WALL = """
import sys, django
django.setup()
from django.test import override_settings
from django_brockman import record_trigger, record_triggers
from django_brockman.templatetags import brockman
from django_brockman import middleware, hooks, tags, safe_recording
with override_settings(BROCKMAN_DELIVER_ON_COMMIT=__ON__):
    record_trigger(None, "viewed", "page", actor_id="a")
    record_triggers(None, [{"action": "a", "obj": "o", "actor_id": "x"}])
delivery = ("django_brockman.engine", "django_brockman.backends", "django_brockman.client")
print(sorted(name for name in delivery if name in sys.modules))
"""


@pytest.mark.parametrize(("on", "loaded"), [(False, "[]"), (True, "django_brockman.engine")])
def test_request_path_loads_the_delivery_side_only_when_on(on: bool, loaded: str) -> None:
    env = command_env(BACKEND=LOCMEM)
    process = subprocess.run(
        [sys.executable, "-c", WALL.replace("__ON__", str(on))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert process.returncode == 0, process.stderr
    assert loaded in process.stdout


@override_settings(BROCKMAN_DELIVER_ON_COMMIT=True, BROCKMAN_BACKEND=LOCMEM)
def test_async_recording_delivered_after_commit(sent: list[Trigger]) -> None:
    from django_brockman import arecord_trigger
    from tests.conftest import run_async

    trigger = run_async(arecord_trigger(None, "viewed", "page", actor_id="a"))
    assert trigger is not None
    assert [t.uuid for t in sent] == [trigger.uuid]
    assert state() == [(Status.SENT, 1)]
