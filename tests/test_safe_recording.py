"""safe_recording: recording errors from templates and hooks are raised in DEBUG, logged otherwise,
and a failed INSERT leaves the caller's transaction usable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from django_brockman.models import Trigger
from django_brockman.payload import TriggerArgs
from django_brockman.safe_recording import contained, record_in_savepoint

VIEWED = TriggerArgs("viewed", "page", actor_id="a")


def test_contained_logs_errors_in_production(caplog: pytest.LogCaptureFixture) -> None:
    with contained("a test"):
        raise KeyError("boom")

    assert caplog.records[0].name == "django_brockman.capture"
    assert caplog.records[0].getMessage() == (
        "Recording a trigger from a test failed; nothing was recorded."
    )
    assert "KeyError: 'boom'" in caplog.text


@override_settings(DEBUG=True)
def test_contained_raises_in_debug() -> None:
    with pytest.raises(KeyError), contained("a test"):
        raise KeyError("boom")


@pytest.mark.django_db(transaction=True)
def test_record_in_savepoint_failed_insert_keeps_transaction_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = Trigger.objects.create(actor_id="a", action="viewed", obj="page").uuid
    # Every new row gets the UUID already taken: the INSERT fails in the database.
    monkeypatch.setattr(Trigger._meta.get_field("uuid"), "_get_default", lambda: taken)

    with transaction.atomic():
        User.objects.create_user("ada")
        with contained("a test"):
            record_in_savepoint(None, VIEWED)
        User.objects.create_user("bob")

    assert sorted(User.objects.values_list("username", flat=True)) == ["ada", "bob"]
    assert Trigger.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_record_in_savepoint_costs_no_savepoint_outside_a_transaction(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(1):
        record_in_savepoint(None, VIEWED)
    with transaction.atomic(), django_assert_num_queries(3):
        record_in_savepoint(None, VIEWED)

    assert Trigger.objects.count() == 2


@pytest.mark.django_db
def test_record_in_savepoint_returns_the_trigger() -> None:
    trigger = record_in_savepoint(
        None, TriggerArgs("viewed", "page", variables={"n": 1}, actor_id="a")
    )

    assert trigger is not None
    assert Trigger.objects.get().uuid == trigger.uuid
    assert isinstance(trigger.uuid, uuid.UUID)
