"""A first-time visitor: an actor id is minted when a trigger needs one, the cookie is set
so that later views and the browser script reuse it, and a page never fails for lack of an
actor."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, override_settings

from django_brockman.models import Trigger
from tests.conftest import run_async
from tests.settings import MIDDLEWARE

pytestmark = pytest.mark.django_db

ACTOR = "0f8fad5b-d9cb-469f-a165-70867728950e"
MINTED = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WITHOUT_MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("django_brockman.")]
DNT = "django_brockman.consent.honour_do_not_track"


def get(path: str, cookie: str | None = None, **extra: Any) -> HttpResponse:
    client = Client()
    if cookie is not None:
        client.cookies["fl_actor_id"] = cookie
    response: HttpResponse = client.get(path, **extra)
    return response


def aget(path: str, cookie: str | None = None, **extra: Any) -> HttpResponse:
    client = AsyncClient()
    if cookie is not None:
        client.cookies["fl_actor_id"] = cookie
    response: HttpResponse = run_async(client.get(path, **extra))
    return response


def recorded(response: HttpResponse) -> Any:
    return json.loads(response.content)["recorded"]


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name.split(".")[0] == "django_brockman" and record.levelno >= logging.WARNING
    ]


VISITS = pytest.mark.parametrize(
    ("fetch", "path"), [(get, "/visit/"), (aget, "/async-visit/")], ids=["sync", "async"]
)


@VISITS
def test_first_visit_records_a_minted_actor_and_sets_its_cookie(fetch: Any, path: str) -> None:
    response = fetch(path)

    assert response.status_code == 200
    actor_id = recorded(response)
    assert MINTED.fullmatch(actor_id)
    assert response.cookies["fl_actor_id"].value == actor_id
    assert response.cookies["fl_actor_id"]["max-age"] == 315360000
    assert "Cookie" in response["Vary"]
    assert list(Trigger.objects.values_list("actor_id", flat=True)) == [actor_id]


def test_first_visit_uses_one_minted_actor_for_every_trigger_of_the_page() -> None:
    response = get("/visit-twice/")

    first, second = recorded(response)
    assert MINTED.fullmatch(first)
    assert first == second == response.cookies["fl_actor_id"].value
    assert set(Trigger.objects.values_list("actor_id", flat=True)) == {first}


def test_minted_actor_is_on_the_request_after_recording() -> None:
    response = get("/visit/")

    assert json.loads(response.content)["fl_actor_id"] == recorded(response)


def test_next_visit_reuses_the_minted_cookie() -> None:
    client = Client()
    first = client.get("/visit/")
    second = client.get("/visit/")

    assert recorded(second) == recorded(first)
    assert "fl_actor_id" not in second.cookies
    assert Trigger.objects.values("actor_id").distinct().count() == 1


@pytest.mark.parametrize("path", ["/actor/", "/async-actor/"])
def test_page_that_records_nothing_sets_no_cookie(path: str) -> None:
    response = get(path)

    assert "fl_actor_id" not in response.cookies
    assert "Cookie" not in response.get("Vary", "")


@VISITS
@override_settings(BROCKMAN_CONSENT=DNT)
def test_refused_consent_mints_no_cookie(fetch: Any, path: str) -> None:
    response = fetch(path, headers={"DNT": "1"})

    assert recorded(response) is None
    assert "fl_actor_id" not in response.cookies
    assert not Trigger.objects.exists()


@override_settings(BROCKMAN_ENABLED=False)
def test_disabled_recording_mints_no_cookie() -> None:
    response = get("/visit/")

    assert recorded(response) is None
    assert "fl_actor_id" not in response.cookies


@VISITS
def test_usable_cookie_is_kept(fetch: Any, path: str) -> None:
    response = fetch(path, ACTOR)

    assert recorded(response) == ACTOR
    assert "fl_actor_id" not in response.cookies


@pytest.mark.parametrize("forged", ["<script>", "x" * 65, "a b"])
def test_unusable_cookie_is_replaced_by_a_minted_actor(forged: str) -> None:
    response = get("/visit/", forged)

    actor_id = recorded(response)
    assert MINTED.fullmatch(actor_id)
    assert response.cookies["fl_actor_id"].value == actor_id


def test_signed_in_user_without_cookie_is_recorded_by_primary_key() -> None:
    user = User.objects.create_user("ada")
    client = Client()
    client.force_login(user)

    response = client.get("/visit/")

    assert recorded(response) == str(user.pk)
    assert "fl_actor_id" not in response.cookies


@override_settings(BROCKMAN_SET_ACTOR_COOKIE=True)
def test_every_request_mode_records_the_id_minted_before_the_view() -> None:
    response = get("/visit/")

    actor_id = recorded(response)
    assert MINTED.fullmatch(actor_id)
    assert response.cookies["fl_actor_id"].value == actor_id


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@VISITS
@override_settings(BROCKMAN_SET_ACTOR_COOKIE=False)
def test_minting_off_records_nothing_and_warns_naming_the_fix(
    fetch: Any, path: str, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(DEBUG=debug):
        response = fetch(path)

    assert response.status_code == 200
    assert recorded(response) is None
    assert "fl_actor_id" not in response.cookies
    assert not Trigger.objects.exists()
    [warning] = warnings(caplog)
    assert warning.levelname == "WARNING"
    assert "nothing was recorded" in warning.getMessage()
    assert "BROCKMAN_SET_ACTOR_COOKIE" in warning.getMessage()
    assert warning.exc_info is None


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@VISITS
def test_without_middleware_records_nothing_and_warns_naming_it(
    fetch: Any, path: str, debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(DEBUG=debug, MIDDLEWARE=WITHOUT_MIDDLEWARE):
        response = fetch(path)

    assert response.status_code == 200
    assert recorded(response) is None
    assert not Trigger.objects.exists()
    [warning] = warnings(caplog)
    assert "django_brockman.middleware.BrockmanMiddleware" in warning.getMessage()


def test_recording_after_the_response_left_the_middleware_records_nothing_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = get("/streaming-visit/")
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content)  # type: ignore[arg-type]

    assert json.loads(body) == {"recorded": None}
    assert "fl_actor_id" not in response.cookies
    assert not Trigger.objects.exists()
    [warning] = warnings(caplog)
    assert "too late to set the cookie" in warning.getMessage()


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_template_tag_on_a_first_visit_records_a_minted_actor(debug: bool) -> None:
    with override_settings(DEBUG=debug):
        response = get("/tagged/", data={"title": "t"})

    stored = Trigger.objects.get()
    assert MINTED.fullmatch(stored.actor_id)
    assert response.cookies["fl_actor_id"].value == stored.actor_id


@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
@override_settings(BROCKMAN_SET_ACTOR_COOKIE=False)
def test_template_tag_without_an_actor_renders_the_page_and_warns(
    debug: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(DEBUG=debug):
        response = get("/tagged/", data={"title": "t"})

    assert response.status_code == 200
    assert response.content.decode() == '<p data-actor="">t</p>\n'
    assert not Trigger.objects.exists()
    [warning] = warnings(caplog)
    assert "BROCKMAN_SET_ACTOR_COOKIE" in warning.getMessage()
