"""capture_triggers(): what a test sees of the triggers its code recorded."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.test import Client

from django_brockman import record_trigger
from django_brockman.testing import capture_triggers
from tests.testapp.views import Boom

pytestmark = pytest.mark.django_db


def test_capture_triggers_sees_what_a_view_recorded() -> None:
    record_trigger(None, "before", "page", actor_id="a")

    with capture_triggers() as triggers:
        Client().get("/record/")

    assert [(t.action, t.obj, t.actor_id) for t in triggers] == [("viewed", "page", "actor-1")]


def test_capture_triggers_is_ordered_and_indexable() -> None:
    with capture_triggers() as triggers:
        for action in ("first", "second", "third"):
            record_trigger(None, action, "page", actor_id="a")

    assert len(triggers) == 3
    assert triggers[0].action == "first"
    assert [t.action for t in triggers[1:]] == ["second", "third"]
    assert triggers.queryset.filter(action="third").count() == 1


def test_capture_triggers_is_live_inside_the_block() -> None:
    with capture_triggers() as triggers:
        assert len(triggers) == 0
        record_trigger(None, "viewed", "page", actor_id="a")
        assert len(triggers) == 1


def test_capture_triggers_stops_growing_after_the_block() -> None:
    with capture_triggers() as triggers:
        record_trigger(None, "inside", "page", actor_id="a")
    record_trigger(None, "after", "page", actor_id="a")

    assert [t.action for t in triggers] == ["inside"]


def record_then_fail() -> None:
    with transaction.atomic():
        record_trigger(None, "rolled back", "page", actor_id="a")
        raise Boom


def test_capture_triggers_leaves_out_rolled_back_triggers() -> None:
    with capture_triggers() as triggers:
        with pytest.raises(Boom):
            record_then_fail()
        record_trigger(None, "kept", "page", actor_id="a")

    assert [t.action for t in triggers] == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_capture_triggers_sees_other_threads() -> None:
    def record() -> None:
        record_trigger(None, "from a thread", "page", actor_id="a")
        connection.close()

    with capture_triggers() as triggers:
        worker = threading.Thread(target=record)
        worker.start()
        worker.join()

    assert [t.action for t in triggers] == ["from a thread"]
