"""The Trigger model: its text form and the queryset that finds finished rows."""

from __future__ import annotations

import pytest

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger

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
