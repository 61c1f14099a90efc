"""record_trigger: one row in the caller's transaction, validated where it is called."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone

from django_brockman import record_trigger
from django_brockman.models import Status, Trigger
from tests.testapp.views import Boom

pytestmark = pytest.mark.django_db


@pytest.fixture
def rf() -> RequestFactory:
    return RequestFactory()


def test_record_trigger_stores_a_pending_row(rf: RequestFactory) -> None:
    trigger = record_trigger(
        rf.get("/"),
        "viewed",
        "page",
        actor_id="a1",
        identities={"email": "x@example.com"},
        attributes={"plan": "pro"},
        variables={"tags": ("a", "b")},
    )

    stored = Trigger.objects.get()
    assert stored.pk == trigger.pk
    assert (stored.actor_id, stored.action, stored.obj) == ("a1", "viewed", "page")
    assert stored.identities == {"email": "x@example.com"}
    assert stored.attributes == {"plan": "pro"}
    assert stored.variables == {"tags": ["a", "b"]}
    assert stored.status == Status.PENDING
    assert stored.attempts == 0
    assert stored.next_attempt_at <= timezone.now()


def test_record_trigger_reads_actor_from_request_attribute(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.fl_actor_id = "cookie-actor"  # type: ignore[attr-defined]

    assert record_trigger(request, "viewed", "page").actor_id == "cookie-actor"


def test_record_trigger_explicit_actor_wins(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.fl_actor_id = "cookie-actor"  # type: ignore[attr-defined]

    assert record_trigger(request, "viewed", "page", actor_id=7).actor_id == "7"


def test_record_trigger_falls_back_to_user_pk(rf: RequestFactory) -> None:
    user = User.objects.create_user("ada")
    request = rf.get("/")
    request.user = user

    assert record_trigger(request, "viewed", "page").actor_id == str(user.pk)


def test_record_trigger_without_actor_raises(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = AnonymousUser()

    with pytest.raises(ValueError, match="No actor for this trigger"):
        record_trigger(request, "viewed", "page")
    assert not Trigger.objects.exists()


def test_record_trigger_without_request_needs_actor() -> None:
    with pytest.raises(ValueError, match="No actor"):
        record_trigger(None, "viewed", "page")


def test_record_trigger_bad_variable_raises_and_stores_nothing() -> None:
    with pytest.raises(TypeError, match=r"variables\['when'\] is a object"):
        record_trigger(None, "viewed", "page", actor_id="a", variables={"when": object()})
    assert not Trigger.objects.exists()


@pytest.mark.parametrize(("action", "error"), [("", ValueError), (None, TypeError)])
def test_record_trigger_bad_action_raises(action: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="action"):
        record_trigger(None, action, "page", actor_id="a")  # type: ignore[arg-type]
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_MAX_PAYLOAD_BYTES=100)
def test_record_trigger_refuses_oversized_payload() -> None:
    with pytest.raises(ValueError, match="BROCKMAN_MAX_PAYLOAD_BYTES allows 100"):
        record_trigger(None, "viewed", "page", actor_id="a", variables={"x": "y" * 100})
    assert not Trigger.objects.exists()


def record_then_raise(obj: str, seen: list[int]) -> None:
    with transaction.atomic():
        record_trigger(None, "viewed", obj, actor_id="a")
        seen.append(Trigger.objects.filter(obj=obj).count())
        raise Boom


def test_record_trigger_rolled_back_transaction_leaves_no_row() -> None:
    seen: list[int] = []
    with pytest.raises(Boom):
        record_then_raise("page", seen)

    assert seen == [1]
    assert not Trigger.objects.exists()


def test_record_trigger_in_committed_savepoint_is_kept() -> None:
    with transaction.atomic():
        record_trigger(None, "viewed", "page", actor_id="a")
        with pytest.raises(Boom):
            record_then_raise("other", [])

    assert list(Trigger.objects.values_list("obj", flat=True)) == ["page"]


@pytest.mark.django_db(transaction=True)
def test_view_that_fails_after_recording_records_nothing() -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/record-then-fail/")

    assert response.status_code == 500
    assert not Trigger.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_view_that_succeeds_records_one_row() -> None:
    response = Client().get("/record/")

    assert response.status_code == 200
    assert str(Trigger.objects.get().uuid) == response.content.decode()


def test_record_trigger_is_importable_from_package() -> None:
    import django_brockman
    from django_brockman import recording

    assert django_brockman.record_trigger is recording.record_trigger
    with pytest.raises(AttributeError):
        django_brockman.no_such_name  # noqa: B018
