"""forget_actor() and brockman_forget: erasure in batches, and triggers a flusher held."""

from __future__ import annotations

import datetime as dt
import io
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_brockman import engine, record_trigger
from django_brockman.backends import locmem
from django_brockman.backends.base import BaseBackend
from django_brockman.erasure import Forgotten, forget_actor
from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db

LOCMEM = "django_brockman.backends.locmem.LocmemBackend"


def add(actor_id: str = "ada", status: str = Status.PENDING, **fields: object) -> Trigger:
    values: dict[str, object] = {"action": "viewed", "obj": "page"}
    return Trigger.objects.create(actor_id=actor_id, status=status, **(values | fields))


def actors() -> list[str]:
    return sorted(Trigger.objects.values_list("actor_id", flat=True))


def test_forget_actor_deletes_every_status_and_leaves_others() -> None:
    soon = timezone.now() + dt.timedelta(minutes=5)
    for status in Status.values:
        add("ada", status, next_attempt_at=soon)
    add("bob")

    result = forget_actor("ada")

    assert result == Forgotten(deleted=4, in_flight=1)  # the sending row counts as held
    assert actors() == ["bob"]


def test_forget_actor_counts_only_unexpired_leases_as_in_flight() -> None:
    soon = timezone.now() + dt.timedelta(minutes=5)
    add(status=Status.SENDING, next_attempt_at=soon, claim_token=uuid.uuid4())
    add(status=Status.SENDING, next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    add(status=Status.PENDING)

    assert forget_actor("ada") == Forgotten(deleted=3, in_flight=1)
    assert Trigger.objects.count() == 0


def test_forget_actor_matches_identities_under_any_actor_id() -> None:
    add("cookie-1", identities={"email": "ada@example.com"})
    add("cookie-2", identities={"email": "ada@example.com", "user": "7"})
    add("cookie-3", identities={"email": "bob@example.com"})
    add("cookie-4")

    result = forget_actor(identities={"email": "ada@example.com"})

    assert result.deleted == 2
    assert actors() == ["cookie-3", "cookie-4"]


def test_forget_actor_matches_actor_or_any_of_several_identities() -> None:
    add("ada")
    add("x", identities={"email": "ada@example.com"})
    add("y", identities={"email": "ada@work.example"})
    add("z", identities={"email": "zed@example.com"})

    forget_actor("ada", identities=[("email", "ada@example.com"), ("email", "ada@work.example")])

    assert actors() == ["z"]


def test_forget_actor_identity_key_is_matched_literally() -> None:
    add("x", identities={"a__b": "1"})
    add("y", identities={"a": {"b": "1"}})

    assert forget_actor(identities={"a__b": "1"}).deleted == 1
    assert actors() == ["y"]


def test_forget_actor_deletes_in_batches() -> None:
    for _ in range(5):
        add()

    with CaptureQueriesContext(connection) as queries:
        result = forget_actor("ada", batch_size=2)

    deletes = [query for query in queries if query["sql"].startswith("DELETE")]
    assert result.deleted == 5
    assert len(deletes) == 6  # three batches of (not held, held)
    assert Trigger.objects.count() == 0


@pytest.mark.parametrize(
    ("actor_id", "identities"),
    [(None, None), (None, {}), ("", None), (7, None), (None, {"email": 7})],
)
def test_forget_actor_refuses_bad_input(actor_id: object, identities: object) -> None:
    add()

    with pytest.raises(ValueError, match=r"actor_id|identit"):
        forget_actor(actor_id, identities=identities)  # type: ignore[arg-type]

    assert Trigger.objects.count() == 1


def test_forget_actor_nothing_of_theirs_is_sent_afterwards(settings: object) -> None:
    add("ada")
    add("ada", Status.FAILED)
    add("bob")
    locmem.sent.clear()

    forget_actor("ada")
    engine.flush(backend=LOCMEM, concurrency=1)

    assert [trigger.actor_id for trigger in locmem.sent] == ["bob"]
    locmem.sent.clear()


class ForgettingBackend(BaseBackend):
    """Accepts triggers; while sending the first, an erasure request for "ada" arrives."""

    forgotten: list[Forgotten] = []

    def send(self, trigger: Trigger) -> None:
        if not self.forgotten:
            self.forgotten.append(forget_actor("ada"))


def test_forget_actor_during_a_flush_reports_the_claimed_rows_and_they_stay_gone() -> None:
    for _ in range(3):
        record_trigger(None, "viewed", "page", actor_id="ada")
    record_trigger(None, "viewed", "page", actor_id="bob")
    ForgettingBackend.forgotten.clear()

    result = engine.flush(backend=f"{__name__}.ForgettingBackend", batch_size=10, concurrency=1)

    assert ForgettingBackend.forgotten == [Forgotten(deleted=3, in_flight=3)]
    # The flusher's results for the deleted rows are not written: no row comes back.
    assert (result.sent, result.lost) == (1, 3)
    assert actors() == ["bob"]


def forget(*args: str) -> str:
    out = io.StringIO()
    call_command("brockman_forget", *args, stdout=out)
    return out.getvalue()


def test_brockman_forget_reports_deleted_and_in_flight() -> None:
    add("ada")
    add("ada", Status.SENDING, next_attempt_at=timezone.now() + dt.timedelta(minutes=5))

    output = forget("--actor-id", "ada")

    assert output.splitlines() == [
        "Deleted 2 triggers.",
        "1 of them had been claimed by a running flusher, which may have sent them to FocusLab.",
    ]


def test_brockman_forget_by_identity() -> None:
    add("x", identities={"email": "ada@example.com"})
    add("y", identities={"email": "bob@example.com"})

    assert forget("--identity", "email=ada@example.com") == "Deleted 1 triggers.\n"
    assert actors() == ["y"]


def test_brockman_forget_needs_something_to_match() -> None:
    with pytest.raises(CommandError, match="--actor-id"):
        forget()


def test_brockman_forget_identity_must_be_key_equals_value() -> None:
    with pytest.raises(CommandError, match="KEY=VALUE"):
        forget("--identity", "ada@example.com")


def test_forget_actor_identity_matches_a_stored_number_by_its_text() -> None:
    add("x", identities={"user": 7})
    add("y", identities={"user": 70})

    assert forget_actor(identities={"user": "7"}).deleted == 1
    assert actors() == ["y"]
