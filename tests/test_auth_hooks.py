"""auth_hooks: login, logout and failed login become triggers once BROCKMAN_AUTH_HOOKS says so."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate, login
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client, RequestFactory, override_settings

from django_brockman.models import Trigger

pytestmark = pytest.mark.django_db


def rows() -> list[tuple[str, str, str]]:
    return list(Trigger.objects.order_by("id").values_list("actor_id", "action", "obj"))


@pytest.fixture
def ada(settings: Any) -> User:
    # A fast hasher: these tests are about the signals, not the hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return User.objects.create_user("ada", email="ada@example.com", password="secret-pw")


def browser_request(actor_id: str | None = "browser-1") -> HttpRequest:
    request = RequestFactory().post("/login/")
    request.session = SessionStore()
    request.fl_actor_id = actor_id  # type: ignore[attr-defined]
    return request


def test_auth_hooks_are_off_by_default(ada: User) -> None:
    client = Client()
    client.force_login(ada)
    client.logout()
    authenticate(browser_request(), username="ada", password="wrong")

    assert rows() == []


@override_settings(BROCKMAN_AUTH_HOOKS=True)
def test_auth_hooks_record_login_and_logout(ada: User) -> None:
    client = Client()
    assert client.login(username="ada", password="secret-pw")
    client.logout()

    assert rows() == [
        (str(ada.pk), "logged in", "account"),
        (str(ada.pk), "logged out", "account"),
    ]
    assert [t.identities for t in Trigger.objects.all()] == [
        {"user_id": ada.pk, "email": "ada@example.com"}
    ] * 2


@override_settings(BROCKMAN_AUTH_HOOKS=True)
def test_auth_hooks_login_joins_browser_actor(ada: User) -> None:
    login(browser_request(), ada)

    assert rows() == [("browser-1", "logged in", "account")]


@override_settings(BROCKMAN_AUTH_HOOKS=True)
def test_auth_hooks_failed_login_records_no_credentials(ada: User) -> None:
    assert authenticate(browser_request(), username="ada", password="wrong") is None

    stored = Trigger.objects.get()
    assert (stored.actor_id, stored.action, stored.obj) == (
        "browser-1",
        "failed to log in",
        "account",
    )
    assert (stored.identities, stored.attributes, stored.variables) == ({}, {}, {})


@override_settings(BROCKMAN_AUTH_HOOKS=True)
def test_auth_hooks_failed_login_without_browser_actor_records_nothing(ada: User) -> None:
    authenticate(browser_request(None), username="ada", password="wrong")
    authenticate(None, username="ada", password="wrong")

    assert rows() == []


@override_settings(BROCKMAN_AUTH_HOOKS=["user_logged_in"])
def test_auth_hooks_setting_lists_the_hooks_wanted(ada: User) -> None:
    client = Client()
    client.force_login(ada)
    client.logout()
    authenticate(browser_request(), username="ada", password="wrong")

    assert rows() == [(str(ada.pk), "logged in", "account")]


@override_settings(
    BROCKMAN_AUTH_HOOKS=True, BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track"
)
def test_auth_hooks_respect_consent(ada: User) -> None:
    request = browser_request()
    request.META["HTTP_DNT"] = "1"

    login(request, ada)
    login(browser_request("browser-2"), ada)

    assert rows() == [("browser-2", "logged in", "account")]
