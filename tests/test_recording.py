"""record_trigger and arecord_trigger: one row in the caller's transaction, validated where
it is called; nothing when recording is off or refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.http import HttpRequest
from django.test import AsyncClient, AsyncRequestFactory, Client, RequestFactory, override_settings
from django.utils import timezone

from django_brockman import arecord_trigger, record_trigger
from django_brockman.models import Status, Trigger
from django_brockman.validation import payload_size
from tests.conftest import run_async
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
    assert trigger is not None
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

    trigger = record_trigger(request, "viewed", "page")

    assert trigger is not None
    assert trigger.actor_id == "cookie-actor"


def test_record_trigger_explicit_actor_wins(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.fl_actor_id = "cookie-actor"  # type: ignore[attr-defined]

    trigger = record_trigger(request, "viewed", "page", actor_id=7)

    assert trigger is not None
    assert trigger.actor_id == "7"


def test_record_trigger_falls_back_to_user_pk(rf: RequestFactory) -> None:
    user = User.objects.create_user("ada")
    request = rf.get("/")
    request.user = user

    trigger = record_trigger(request, "viewed", "page")

    assert trigger is not None
    assert trigger.actor_id == str(user.pk)


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_record_trigger_without_actor_records_nothing_and_warns(
    rf: RequestFactory, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # A request that did not pass through BrockmanMiddleware: no id can be minted.
    request = rf.get("/")
    request.user = AnonymousUser()

    with override_settings(DEBUG=debug):
        assert record_trigger(request, "viewed", "page") is None

    assert not Trigger.objects.exists()
    [warning] = caplog.records
    assert (warning.name, warning.levelname) == ("django_brockman.capture", "WARNING")
    assert "BrockmanMiddleware" in warning.getMessage()


def test_record_trigger_without_actor_still_rejects_bad_input(rf: RequestFactory) -> None:
    request = rf.get("/")
    request.user = AnonymousUser()

    with pytest.raises(ValueError, match="obj must not be empty"):
        record_trigger(request, "viewed", "")


def test_record_trigger_without_request_needs_actor() -> None:
    with pytest.raises(ValueError, match="No actor for this trigger: without a request"):
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
    from django_brockman import hooks, recording

    assert django_brockman.record_trigger is recording.record_trigger
    assert django_brockman.arecord_trigger is recording.arecord_trigger
    assert django_brockman.trigger_on is hooks.trigger_on
    with pytest.raises(AttributeError):
        django_brockman.no_such_name  # noqa: B018


@pytest.mark.parametrize("field", ["action", "obj", "actor_id"])
def test_record_trigger_accepts_255_characters_and_refuses_256(field: str) -> None:
    fields: dict[str, Any] = {"action": "viewed", "obj": "page", "actor_id": "a"}

    fields[field] = "x" * 255
    record_trigger(None, **fields)
    fields[field] = "x" * 256
    with pytest.raises(ValueError, match="255"):
        record_trigger(None, **fields)

    assert Trigger.objects.count() == 1


def test_record_trigger_payload_limit_is_inclusive() -> None:
    base = {"actor_id": "a", "action": "viewed", "obj": "page"}
    size = payload_size({**base, "identities": {}, "attributes": {}, "variables": {"x": ""}})

    with override_settings(BROCKMAN_MAX_PAYLOAD_BYTES=size + 10):
        record_trigger(None, "viewed", "page", actor_id="a", variables={"x": "y" * 10})
        with pytest.raises(ValueError, match=f"is {size + 11} bytes"):
            record_trigger(None, "viewed", "page", actor_id="a", variables={"x": "y" * 11})

    assert Trigger.objects.count() == 1


def test_record_trigger_makes_one_query(
    rf: RequestFactory, django_assert_num_queries: Any
) -> None:
    request = rf.get("/")
    request.user = User.objects.create_user("ada", email="ada@example.com")
    request.fl_actor_id = "cookie-actor"  # type: ignore[attr-defined]

    with django_assert_num_queries(1):
        record_trigger(request, "viewed", "page", variables={"n": 1})


def test_record_trigger_adds_signed_in_user_identities(rf: RequestFactory) -> None:
    user = User.objects.create_user("ada", email="ada@example.com")
    request = rf.get("/")
    request.user = user

    record_trigger(request, "viewed", "page", identities={"crm": "c-1"})

    stored = Trigger.objects.get()
    assert stored.identities == {"user_id": user.pk, "email": "ada@example.com", "crm": "c-1"}


def test_record_trigger_explicit_identities_win(rf: RequestFactory) -> None:
    user = User.objects.create_user("ada", email="ada@example.com")
    request = rf.get("/")
    request.user = user

    record_trigger(request, "viewed", "page", identities={"email": "other@example.com"})

    assert Trigger.objects.get().identities["email"] == "other@example.com"


@override_settings(BROCKMAN_ENABLED=False)
def test_record_trigger_disabled_records_nothing_and_returns_none(
    rf: RequestFactory, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0):
        result = record_trigger(rf.get("/"), "viewed", "page", actor_id="a")

    assert result is None
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_trigger_refused_consent_records_nothing_and_returns_none(
    rf: RequestFactory,
) -> None:
    refused = record_trigger(rf.get("/", headers={"DNT": "1"}), "viewed", "page", actor_id="a")
    allowed = record_trigger(rf.get("/"), "viewed", "page", actor_id="a")

    assert refused is None
    assert allowed is not None
    assert list(Trigger.objects.values_list("pk", flat=True)) == [allowed.pk]


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_trigger_without_request_is_not_refused() -> None:
    assert record_trigger(None, "imported", "order", actor_id="a") is not None


@override_settings(BROCKMAN_ENABLED=False)
def test_record_trigger_disabled_still_rejects_bad_input(rf: RequestFactory) -> None:
    with pytest.raises(TypeError, match="variables\\['when'\\]"):
        record_trigger(rf.get("/"), "viewed", "page", actor_id="a", variables={"when": object()})


@override_settings(BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track")
def test_record_trigger_refused_consent_still_rejects_bad_input(rf: RequestFactory) -> None:
    request = rf.get("/", headers={"DNT": "1"})
    with pytest.raises(ValueError, match="obj must not be empty"):
        record_trigger(request, "viewed", "", actor_id="a")
    # A refused visitor may have no actor at all: that is not a mistake in the call.
    assert record_trigger(request, "viewed", "page") is None


@override_settings(BROCKMAN_ENABLED=False)
def test_arecord_trigger_disabled_still_rejects_bad_input() -> None:
    with pytest.raises(TypeError, match="action must be a str"):
        run_async(arecord_trigger(None, 42, "page", actor_id="a"))  # type: ignore[arg-type]


# arecord_trigger


async def anonymous() -> AnonymousUser:
    return AnonymousUser()


def test_arecord_trigger_stores_a_row() -> None:
    trigger = run_async(
        arecord_trigger(None, "viewed", "page", actor_id="a1", variables={"tags": ("a",)})
    )

    stored = Trigger.objects.get()
    assert trigger is not None
    assert stored.pk == trigger.pk
    assert (stored.actor_id, stored.action, stored.obj) == ("a1", "viewed", "page")
    assert stored.variables == {"tags": ["a"]}


def test_arecord_trigger_in_async_view_uses_signed_in_user() -> None:
    user = User.objects.create_user("ada", email="ada@example.com")
    client = AsyncClient()
    client.force_login(user)

    response = run_async(client.get("/async-record/"))

    stored = Trigger.objects.get()
    assert json.loads(response.content) == {"uuid": str(stored.uuid)}
    assert stored.actor_id == str(user.pk)
    assert stored.identities == {"user_id": user.pk, "email": "ada@example.com"}
    assert (stored.action, stored.obj, stored.variables) == ("viewed", "async page", {"n": 1})


def test_arecord_trigger_in_async_view_prefers_cookie_actor() -> None:
    client = AsyncClient()
    client.cookies["fl_actor_id"] = "browser-actor"

    run_async(client.get("/async-record/"))

    stored = Trigger.objects.get()
    assert (stored.actor_id, stored.identities) == ("browser-actor", {})


def test_arecord_trigger_without_actor_records_nothing_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = AsyncRequestFactory().get("/")
    request.auser = anonymous  # type: ignore[attr-defined]

    assert run_async(arecord_trigger(request, "viewed", "page")) is None

    assert not Trigger.objects.exists()
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_arecord_trigger_without_request_needs_actor() -> None:
    with pytest.raises(ValueError, match="No actor for this trigger: without a request"):
        run_async(arecord_trigger(None, "viewed", "page"))


def test_arecord_trigger_bad_input_raises_and_stores_nothing() -> None:
    with pytest.raises(TypeError, match=r"variables\['when'\] is a object"):
        run_async(
            arecord_trigger(None, "viewed", "page", actor_id="a", variables={"when": object()})
        )
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_ENABLED=False)
def test_arecord_trigger_disabled_records_nothing_and_returns_none(
    django_assert_num_queries: Any,
) -> None:
    request = AsyncRequestFactory().get("/")
    calls: list[str] = []

    async def auser() -> AnonymousUser:
        calls.append("auser")
        return AnonymousUser()

    request.auser = auser  # type: ignore[attr-defined]
    with django_assert_num_queries(0):
        result = run_async(arecord_trigger(request, "viewed", "page", actor_id="a"))

    assert result is None
    assert calls == []
    assert not Trigger.objects.exists()


def staff_are_not_recorded(request: HttpRequest) -> bool:
    return not request.user.is_staff


@override_settings(BROCKMAN_CONSENT="tests.test_recording.staff_are_not_recorded")
def test_arecord_trigger_refused_consent_records_nothing() -> None:
    staff = User.objects.create_user("ada", is_staff=True)
    client = AsyncClient()
    client.force_login(staff)

    response = run_async(client.get("/async-record/"))

    assert json.loads(response.content) == {"uuid": None}
    assert not Trigger.objects.exists()
