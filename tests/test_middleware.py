"""BrockmanMiddleware: request.fl_actor_id from the cookie, in sync and async stacks.

These tests have no database access: any query the middleware made would fail them.
"""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings

from django_brockman.actor import COOKIE_MAX_AGE, request_actor_id
from django_brockman.middleware import BrockmanMiddleware
from tests.conftest import run_async

ACTOR = "0f8fad5b-d9cb-469f-a165-70867728950e"
MINTED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def actor_seen(response: HttpResponse) -> str | None:
    result: str | None = json.loads(response.content)["actor_id"]
    return result


def get(path: str, cookie: str | None = None, **extra: object) -> HttpResponse:
    client = Client()
    if cookie is not None:
        client.cookies["fl_actor_id"] = cookie
    return client.get(path, **extra)  # type: ignore[arg-type, return-value]


def aget(path: str, cookie: str | None = None, **extra: object) -> HttpResponse:
    client = AsyncClient()
    if cookie is not None:
        client.cookies["fl_actor_id"] = cookie
    return run_async(client.get(path, **extra))  # type: ignore[arg-type]


@pytest.mark.parametrize("fetch", [get, aget], ids=["sync", "async"])
@pytest.mark.parametrize("path", ["/actor/", "/async-actor/"])
def test_middleware_sets_actor_from_cookie(fetch: object, path: str) -> None:
    response = fetch(path, ACTOR)  # type: ignore[operator]

    assert actor_seen(response) == ACTOR
    assert "fl_actor_id" not in response.cookies


@pytest.mark.parametrize("fetch", [get, aget], ids=["sync", "async"])
def test_middleware_without_cookie_sets_none(fetch: object) -> None:
    response = fetch("/actor/")  # type: ignore[operator]

    assert actor_seen(response) is None
    assert "fl_actor_id" not in response.cookies


@pytest.mark.parametrize("fetch", [get, aget], ids=["sync", "async"])
@pytest.mark.parametrize("cookie", ["x" * 65, "<script>alert(1)</script>", "a b", "abc\\n"])
def test_middleware_ignores_invalid_cookie_and_never_echoes_it(fetch: object, cookie: str) -> None:
    response = fetch("/actor/", cookie)  # type: ignore[operator]

    assert actor_seen(response) is None
    assert cookie not in response.content.decode()
    assert cookie not in str(response.cookies)
    assert not any(cookie in value for value in response.headers.values())


@override_settings(BROCKMAN_ACTOR_COOKIE="visitor")
def test_middleware_reads_cookie_named_by_setting() -> None:
    client = Client()
    client.cookies["visitor"] = "v-1"
    client.cookies["fl_actor_id"] = "ignored"

    assert actor_seen(client.get("/actor/")) == "v-1"  # type: ignore[arg-type]


@pytest.mark.parametrize("fetch", [get, aget], ids=["sync", "async"])
@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_mints_and_sets_cookie_when_absent(fetch: object) -> None:
    response = fetch("/actor/")  # type: ignore[operator]

    minted = actor_seen(response)
    assert minted is not None
    assert MINTED.fullmatch(minted)
    cookie = response.cookies["fl_actor_id"]
    assert cookie.value == minted
    assert cookie["path"] == "/"
    assert cookie["max-age"] == COOKIE_MAX_AGE == 315360000
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"] == ""
    assert cookie["secure"] == ""
    assert cookie["domain"] == ""
    # So that no cache serves one visitor's minted id to another.
    assert "Cookie" in response["Vary"]


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_minted_cookie_is_secure_on_https() -> None:
    response = get("/actor/", secure=True)

    assert response.cookies["fl_actor_id"]["secure"] is True


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_keeps_valid_cookie_when_minting() -> None:
    response = get("/actor/", ACTOR)

    assert actor_seen(response) == ACTOR
    assert "fl_actor_id" not in response.cookies


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_replaces_invalid_cookie_when_minting() -> None:
    response = get("/actor/", "<bad>")

    minted = actor_seen(response)
    assert minted is not None
    assert MINTED.fullmatch(minted)
    assert response.cookies["fl_actor_id"].value == minted


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_mints_a_new_id_per_visitor() -> None:
    assert actor_seen(get("/actor/")) != actor_seen(get("/actor/"))


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_middleware_leaves_cookie_the_view_set() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        response = HttpResponse()
        response.set_cookie("fl_actor_id", "chosen-by-view")
        return response

    response = BrockmanMiddleware(view)(RequestFactory().get("/"))

    assert response.cookies["fl_actor_id"].value == "chosen-by-view"  # type: ignore[union-attr]


def test_middleware_is_async_with_async_handler() -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse(request.fl_actor_id)  # type: ignore[attr-defined]

    middleware = BrockmanMiddleware(view)
    request = RequestFactory().get("/", headers={"cookie": f"fl_actor_id={ACTOR}"})

    assert iscoroutinefunction(middleware)
    response = run_async(middleware(request))  # type: ignore[arg-type]
    assert response.content == ACTOR.encode()


def test_middleware_is_sync_with_sync_handler() -> None:
    middleware = BrockmanMiddleware(lambda request: HttpResponse())

    assert not iscoroutinefunction(middleware)
    assert isinstance(middleware(RequestFactory().get("/")), HttpResponse)


def test_middleware_sets_the_cookie_of_an_id_drawn_during_the_view() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        assert request_actor_id(request) == request_actor_id(request)
        return HttpResponse()

    request = RequestFactory().get("/")
    response = BrockmanMiddleware(view)(request)

    minted = response.cookies["fl_actor_id"].value  # type: ignore[union-attr]
    assert MINTED.fullmatch(minted)
    assert request.fl_actor_id == minted  # type: ignore[attr-defined]
    assert "Cookie" in response["Vary"]  # type: ignore[index]


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=False)
def test_middleware_mints_nothing_when_off() -> None:
    def view(request: HttpRequest) -> HttpResponse:
        assert request_actor_id(request) is None
        return HttpResponse()

    response = BrockmanMiddleware(view)(RequestFactory().get("/"))

    assert "fl_actor_id" not in response.cookies  # type: ignore[union-attr]
