"""identities: what BROCKMAN_IDENTITIES adds to triggers recorded with a request."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.test import Client, RequestFactory, override_settings

from django_brockman import record_trigger, record_triggers
from django_brockman.identities import identities_of, request_identities, user_identities
from django_brockman.models import Trigger

pytestmark = pytest.mark.django_db


def request_for(user: object) -> HttpRequest:
    request = RequestFactory().get("/")
    request.user = user  # type: ignore[assignment]
    return request


def test_user_identities_of_signed_in_user() -> None:
    user = User.objects.create_user("ada", email="ada@example.com")

    assert user_identities(request_for(user)) == {"user_id": user.pk, "email": "ada@example.com"}


def test_user_identities_leaves_out_empty_email() -> None:
    user = User.objects.create_user("ada")

    assert user_identities(request_for(user)) == {"user_id": user.pk}


def test_user_identities_of_anonymous_user_is_empty() -> None:
    assert user_identities(request_for(AnonymousUser())) == {}


def test_user_identities_without_user_attribute_is_empty() -> None:
    assert user_identities(RequestFactory().get("/")) == {}


def test_identities_of_none_is_empty() -> None:
    assert identities_of(None) == {}


def test_request_identities_merges_explicit_over_default() -> None:
    user = User.objects.create_user("ada", email="ada@example.com")

    merged = request_identities(request_for(user), {"email": "work@example.com", "crm": "c-1"})

    assert merged == {"user_id": user.pk, "email": "work@example.com", "crm": "c-1"}


def test_request_identities_without_request_is_explicit_only() -> None:
    assert request_identities(None, {"crm": "c-1"}) == {"crm": "c-1"}


@override_settings(BROCKMAN_IDENTITIES=None)
def test_request_identities_setting_none_adds_nothing() -> None:
    user = User.objects.create_user("ada", email="ada@example.com")

    assert request_identities(request_for(user), None) is None


def team_identities(request: HttpRequest) -> dict[str, Any]:
    return {"team": request.GET["team"]}


@override_settings(BROCKMAN_IDENTITIES="tests.test_identities.team_identities")
def test_request_identities_uses_dotted_path_setting() -> None:
    request = RequestFactory().get("/", {"team": "blue"})

    assert request_identities(request, {"crm": "c-1"}) == {"team": "blue", "crm": "c-1"}


class IdentitiesBug(Exception):
    pass


def broken_identities(request: HttpRequest) -> dict[str, Any]:
    raise IdentitiesBug("the profile could not be loaded")


BROKEN = "tests.test_identities.broken_identities"


@override_settings(BROCKMAN_IDENTITIES=BROKEN, DEBUG=False)
def test_identities_that_raise_record_nothing_and_are_logged_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = RequestFactory().get("/")
    request.fl_actor_id = "a-visitor"  # type: ignore[attr-defined]

    assert record_trigger(request, "viewed", "page") is None

    assert not Trigger.objects.exists()
    [error] = caplog.records
    assert (error.name, error.levelname) == ("django_brockman.capture", "ERROR")
    assert "BROCKMAN_IDENTITIES" in error.getMessage()
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], IdentitiesBug)


@override_settings(BROCKMAN_IDENTITIES=BROKEN, DEBUG=True)
def test_identities_that_raise_raise_in_debug() -> None:
    request = RequestFactory().get("/")
    request.fl_actor_id = "a-visitor"  # type: ignore[attr-defined]

    with pytest.raises(IdentitiesBug):
        record_trigger(request, "viewed", "page")


@override_settings(BROCKMAN_IDENTITIES=BROKEN, DEBUG=False)
def test_identities_that_raise_in_bulk_record_nothing(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get("/")
    request.fl_actor_id = "a-visitor"  # type: ignore[attr-defined]

    assert record_triggers(request, [{"action": "viewed", "obj": "page"}]) == []
    assert not Trigger.objects.exists()


@pytest.mark.parametrize("path", ["/visit/", "/async-visit/", "/tagged/"])
@override_settings(BROCKMAN_IDENTITIES=BROKEN, DEBUG=False)
def test_identities_that_raise_never_break_the_page(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    client.cookies["fl_actor_id"] = "a-visitor"

    response = client.get(path)

    assert response.status_code == 200
    assert not Trigger.objects.exists()
    assert [r.exc_info[1].__class__ for r in caplog.records if r.exc_info] == [IdentitiesBug]


@pytest.mark.parametrize("bad", [[], "", 0, False])
def test_record_trigger_of_signed_in_user_refuses_falsy_identities_that_are_not_a_dict(
    bad: Any,
) -> None:
    # The site's identities for a signed-in user must not hide a wrong type in the call:
    # without a user the same call is refused, so it must be with one.
    user = User.objects.create_user("ada", email="ada@example.com")

    with pytest.raises(TypeError, match="identities"):
        record_trigger(request_for(user), "viewed", "page", identities=bad)
    assert not Trigger.objects.exists()
