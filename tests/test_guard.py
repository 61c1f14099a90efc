"""guard: recording errors from templates and hooks are raised in DEBUG, logged otherwise,
and a failed INSERT leaves the caller's transaction usable."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from django_brockman.guard import contained, record_in_savepoint
from django_brockman.models import Trigger


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
            record_in_savepoint(None, "viewed", "page", actor_id="a")
        User.objects.create_user("bob")

    assert sorted(User.objects.values_list("username", flat=True)) == ["ada", "bob"]
    assert Trigger.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_record_in_savepoint_costs_no_savepoint_outside_a_transaction(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(1):
        record_in_savepoint(None, "viewed", "page", actor_id="a")
    with transaction.atomic(), django_assert_num_queries(3):
        record_in_savepoint(None, "viewed", "page", actor_id="a")

    assert Trigger.objects.count() == 2


@pytest.mark.django_db
def test_record_in_savepoint_returns_the_trigger() -> None:
    trigger = record_in_savepoint(None, "viewed", "page", actor_id="a", variables={"n": 1})

    assert trigger is not None
    assert Trigger.objects.get().uuid == trigger.uuid
    assert isinstance(trigger.uuid, uuid.UUID)
