"""consent: BROCKMAN_ENABLED, BROCKMAN_CONSENT and the Do Not Track option."""

from __future__ import annotations

import pytest
from django.http import HttpRequest
from django.test import RequestFactory, override_settings

from django_brockman.consent import honour_do_not_track, may_record

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
