"""consent: BROCKMAN_ENABLED, BROCKMAN_CONSENT and the Do Not Track option."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from django.test import Client, RequestFactory, override_settings

from django_brockman import record_triggers
from django_brockman.consent import honour_do_not_track, may_record
from django_brockman.models import Trigger

DNT = "django_brockman.consent.honour_do_not_track"


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),
        ({"DNT": "0"}, True),
        ({"Sec-GPC": "0"}, True),
        ({"DNT": "1"}, False),
        ({"Sec-GPC": "1"}, False),
        ({"DNT": "0", "Sec-GPC": "1"}, False),
    ],
)
def test_honour_do_not_track_reads_headers(headers: dict[str, str], allowed: bool) -> None:
    assert honour_do_not_track(RequestFactory().get("/", headers=headers)) is allowed


def test_may_record_by_default() -> None:
    assert may_record(RequestFactory().get("/", headers={"DNT": "1"})) is True


@override_settings(BROCKMAN_ENABLED=False)
@pytest.mark.parametrize("with_request", [True, False])
def test_may_record_disabled_refuses_everything(with_request: bool) -> None:
    assert may_record(RequestFactory().get("/") if with_request else None) is False


@override_settings(BROCKMAN_CONSENT=DNT)
def test_may_record_asks_consent_setting() -> None:
    assert may_record(RequestFactory().get("/", headers={"DNT": "1"})) is False
    assert may_record(RequestFactory().get("/")) is True


@override_settings(BROCKMAN_CONSENT=DNT)
def test_may_record_without_request_does_not_ask_consent() -> None:
    assert may_record(None) is True


def cookie_consent(request: HttpRequest) -> bool:
    return request.COOKIES.get("analytics") == "yes"


@override_settings(BROCKMAN_CONSENT="tests.test_consent.cookie_consent")
def test_may_record_uses_custom_consent_callable() -> None:
    factory = RequestFactory()
    factory.cookies["analytics"] = "yes"

    assert may_record(factory.get("/")) is True
    assert may_record(RequestFactory().get("/")) is False


class ConsentBug(Exception):
    pass


def broken_consent(request: HttpRequest) -> bool:
    raise ConsentBug("the consent cookie could not be parsed")


@override_settings(BROCKMAN_CONSENT="tests.test_consent.broken_consent", DEBUG=False)
def test_may_record_refuses_and_logs_when_consent_raises_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert may_record(RequestFactory().get("/")) is False

    [error] = caplog.records
    assert (error.name, error.levelname) == ("django_brockman.capture", "ERROR")
    assert "BROCKMAN_CONSENT" in error.getMessage()
    assert "tests.test_consent.broken_consent" in error.getMessage()
    assert error.exc_info is not None
    assert isinstance(error.exc_info[1], ConsentBug)


@override_settings(BROCKMAN_CONSENT="tests.test_consent.broken_consent", DEBUG=True)
def test_may_record_raises_when_consent_raises_in_debug() -> None:
    with pytest.raises(ConsentBug):
        may_record(RequestFactory().get("/"))


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/visit/", "/async-visit/", "/tagged/"])
@override_settings(BROCKMAN_CONSENT="tests.test_consent.broken_consent", DEBUG=False)
def test_consent_that_raises_never_breaks_the_page_and_records_nothing(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    client.cookies["fl_actor_id"] = "a-visitor"

    response = client.get(path)

    assert response.status_code == 200
    assert not Trigger.objects.exists()
    assert "fl_actor_id" not in response.cookies
    assert [r.exc_info[1].__class__ for r in caplog.records if r.exc_info] == [ConsentBug]


@pytest.mark.django_db
@override_settings(BROCKMAN_CONSENT="tests.test_consent.broken_consent", DEBUG=False)
def test_consent_that_raises_stores_nothing_in_bulk(caplog: pytest.LogCaptureFixture) -> None:
    request = RequestFactory().get("/")

    assert record_triggers(request, [{"action": "viewed", "obj": "page", "actor_id": "a"}]) == []
    assert not Trigger.objects.exists()
    assert [r.levelname for r in caplog.records] == ["ERROR"]
