"""The Trigger model: its text form, its lease, its data, and the queryset's row sets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger
from django_brockman.payload import TriggerData

pytestmark = pytest.mark.django_db


def test_trigger_str_names_action_object_actor_and_status() -> None:
    trigger = record_trigger(None, "viewed", "home page", actor_id="actor-1")

    assert str(trigger) == "viewed home page by actor-1 (pending)"


def test_finished_holds_only_sent_and_failed() -> None:
    triggers = {
        status: record_trigger(None, "viewed", status.value, actor_id="a1") for status in Status
    }
    for status, trigger in triggers.items():
        Trigger.objects.filter(pk=trigger.pk).update(status=status)

    finished = set(Trigger.objects.finished().values_list("obj", flat=True))

    assert finished == {"sent", "failed"}


def test_lease_is_held_only_while_sending_and_not_yet_over() -> None:
    now = timezone.now()
    later, earlier = now + timedelta(seconds=30), now - timedelta(seconds=1)
    rows = {
        obj: Trigger.objects.create(
            actor_id="a1", action="viewed", obj=obj, status=status, next_attempt_at=at
        )
        for obj, status, at in (
            ("leased", Status.SENDING, later),
            ("expired", Status.SENDING, earlier),
            ("pending", Status.PENDING, later),
        )
    }

    assert set(Trigger.objects.held(now).values_list("obj", flat=True)) == {"leased"}
    assert set(Trigger.objects.not_held(now).values_list("obj", flat=True)) == {
        "expired",
        "pending",
    }
    assert {name: row.is_held(now) for name, row in rows.items()} == {
        "leased": True,
        "expired": False,
        "pending": False,
    }
    assert rows["leased"].lease_ends_at == later
    assert rows["pending"].lease_ends_at is None


def test_data_is_the_triggers_six_fields() -> None:
    trigger = record_trigger(
        None, "bought", "order 7", actor_id="a1", identities={"email": "a@example.com"}
    )
    assert trigger is not None

    data = trigger.data()

    assert data == TriggerData(
        actor_id="a1", action="bought", obj="order 7", identities={"email": "a@example.com"}
    )
    assert data.body() == {
        "actor_id": "a1",
        "action": "bought",
        "object": "order 7",
        "captured_identities": {"email": "a@example.com"},
    }
