"""Moving from brockman's Django integration: FL_* settings, DjangoFocusLabClient, and the
recording behind the reference's Celery task name."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import responses
from django.core.checks import Warning
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_brockman import compat, signals
from django_brockman.backends.http import HttpBackend
from django_brockman.checks import check_api_key, check_legacy_settings, check_settings
from django_brockman.compat import DjangoFocusLabClient, message_uuid, record_queued_trigger
from django_brockman.conf import conf
from django_brockman.models import Status, Trigger

LEGACY_KEY = "legacy-secret-key-42"
LEGACY_ENDPOINT = "https://legacy.test/api/v1/"


@pytest.fixture
def no_brockman_settings(settings: Any) -> Any:
    """Settings as a project moving from brockman has them: only FL_*."""
    del settings.BROCKMAN_API_KEY
    del settings.BROCKMAN_ENDPOINT
    settings.FL_API_KEY = LEGACY_KEY
    settings.FL_ENDPOINT = LEGACY_ENDPOINT
    return settings


def test_fl_settings_are_used_when_brockman_ones_are_absent(no_brockman_settings: Any) -> None:
    assert (conf.API_KEY, conf.ENDPOINT) == (LEGACY_KEY, LEGACY_ENDPOINT)
    assert conf.setting_name("API_KEY") == "FL_API_KEY"


def test_brockman_settings_win_over_fl_ones(settings: Any) -> None:
    settings.FL_API_KEY = LEGACY_KEY
    settings.FL_ENDPOINT = LEGACY_ENDPOINT

    assert conf.API_KEY == settings.BROCKMAN_API_KEY
    assert conf.ENDPOINT == settings.BROCKMAN_ENDPOINT


def test_fl_settings_warn_with_the_new_name_and_never_the_key(
    no_brockman_settings: Any,
) -> None:
    messages = check_legacy_settings()

    assert [(m.id, m.hint) for m in messages] == [
        ("brockman.W040", "Rename it to BROCKMAN_API_KEY."),
        ("brockman.W040", "Rename it to BROCKMAN_ENDPOINT."),
    ]
    assert all(isinstance(m, Warning) for m in messages)
    assert LEGACY_KEY not in str(check_settings())


def test_fl_settings_beside_brockman_ones_are_said_to_be_ignored(settings: Any) -> None:
    settings.FL_ENDPOINT = LEGACY_ENDPOINT

    assert [(m.id, m.msg) for m in check_legacy_settings()] == [
        ("brockman.W041", "FL_ENDPOINT is ignored: BROCKMAN_ENDPOINT is set.")
    ]


def test_no_fl_settings_no_warning() -> None:
    assert check_legacy_settings() == []


def test_fl_api_key_satisfies_the_key_check(no_brockman_settings: Any) -> None:
    assert check_api_key() == []


def test_fl_api_key_of_the_wrong_type_is_named(no_brockman_settings: Any) -> None:
    no_brockman_settings.FL_API_KEY = 1234

    assert [m.msg for m in check_api_key()] == ["FL_API_KEY must be a str, not int."]


def test_http_backend_delivers_with_fl_settings(
    no_brockman_settings: Any, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, LEGACY_ENDPOINT + "trigger/", status=201)
    trigger = Trigger(actor_id="a1", action="viewed", obj="page")

    with HttpBackend() as backend:
        backend.send(trigger)

    assert mocked_api.calls[0].request.headers["X-FL-API-KEY"] == LEGACY_KEY


def test_django_client_reads_the_settings(settings: Any) -> None:
    settings.BROCKMAN_TIMEOUT = 3.5

    client = DjangoFocusLabClient()

    assert client.api_key == settings.BROCKMAN_API_KEY
    assert client.endpoint == settings.BROCKMAN_ENDPOINT
    assert client.timeout == 3.5


def test_django_client_reads_the_fl_settings(no_brockman_settings: Any) -> None:
    client = DjangoFocusLabClient()

    assert (client.api_key, client.endpoint) == (LEGACY_KEY, LEGACY_ENDPOINT)


def test_django_client_arguments_win_over_settings() -> None:
    client = DjangoFocusLabClient(api_key="given", endpoint="https://given.test/")

    assert (client.api_key, client.endpoint) == ("given", "https://given.test/")


def test_django_client_without_a_key_names_the_setting(settings: Any) -> None:
    del settings.BROCKMAN_API_KEY

    with pytest.raises(ImproperlyConfigured, match="BROCKMAN_API_KEY is not set"):
        DjangoFocusLabClient()


def test_django_client_sends_as_the_reference_did(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, "https://focuslab.test/api/v1/trigger/", status=201)

    DjangoFocusLabClient().record_trigger(42, "viewed", "page")

    assert mocked_api.calls[0].request.body == (
        b'{"actor_id": "42", "action": "viewed", "object": "page"}'
    )


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [
        (None, None),
        ("", None),
        (
            "9c4f2c5e-8f1b-4b7e-9a43-0d6e8e6b2f10",
            uuid.UUID("9c4f2c5e-8f1b-4b7e-9a43-0d6e8e6b2f10"),
        ),
    ],
)
def test_message_uuid(message_id: str | None, expected: uuid.UUID | None) -> None:
    assert message_uuid(message_id) == expected


def test_message_uuid_of_a_chosen_id_is_stable() -> None:
    assert message_uuid("order-7") == message_uuid("order-7") != message_uuid("order-8")


@pytest.mark.django_db
def test_queued_trigger_is_recorded_pending_with_the_message_id() -> None:
    message_id = str(uuid.uuid4())

    trigger = record_queued_trigger(message_id, 42, "viewed", uuid.UUID(int=5), {"e": "x"})

    assert trigger is not None
    row = Trigger.objects.get()
    assert (row.status, str(row.uuid), row.actor_id, row.obj, row.identities) == (
        Status.PENDING,
        message_id,
        "42",
        "00000000-0000-0000-0000-000000000005",
        {"e": "x"},
    )


@pytest.mark.django_db
def test_queued_trigger_delivered_twice_is_recorded_once() -> None:
    message_id = str(uuid.uuid4())

    first = record_queued_trigger(message_id, "a1", "viewed", "page")
    second = record_queued_trigger(message_id, "a1", "viewed", "page")

    assert first is not None
    assert second is not None
    assert first.pk == second.pk
    assert Trigger.objects.count() == 1


@pytest.mark.django_db
def test_queued_trigger_without_message_id_gets_its_own_uuid() -> None:
    record_queued_trigger(None, "a1", "viewed", "page")
    record_queued_trigger(None, "a1", "viewed", "page")

    assert Trigger.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_queued_trigger_announces_itself_with_the_message_id() -> None:
    seen: list[str] = []

    def receiver(sender: Any, trigger: Trigger, **kwargs: Any) -> None:
        seen.append(str(trigger.uuid))

    message_id = str(uuid.uuid4())
    signals.trigger_recorded.connect(receiver)
    try:
        record_queued_trigger(message_id, "a1", "viewed", "page")
    finally:
        signals.trigger_recorded.disconnect(receiver)

    assert seen == [message_id]


@pytest.mark.django_db
@override_settings(BROCKMAN_ENABLED=False)
def test_queued_trigger_when_recording_is_off_records_nothing() -> None:
    assert record_queued_trigger(str(uuid.uuid4()), "a1", "viewed", "page") is None
    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_queued_trigger_with_bad_input_raises_and_stores_nothing() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - record_trigger's own error
        record_queued_trigger(str(uuid.uuid4()), "a1", "", "page")

    assert not Trigger.objects.exists()


@pytest.mark.django_db
def test_queued_trigger_racing_its_twin_returns_the_twins_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another worker commits the same message between the check and the UPDATE: the
    # unique UUID refuses the second row, and the twin's is returned.
    message_id = str(uuid.uuid4())
    twin = Trigger.objects.create(actor_id="a1", action="viewed", obj="page", uuid=message_id)
    looked: list[object] = []

    def first_look_misses(key: uuid.UUID | None, alias: str) -> Trigger | None:
        looked.append(key)
        return None if len(looked) == 1 else recorded(key, alias)

    recorded = compat._recorded
    monkeypatch.setattr(compat, "_recorded", first_look_misses)

    trigger = record_queued_trigger(message_id, "a1", "viewed", "page")

    assert trigger is not None
    assert trigger.pk == twin.pk
    assert Trigger.objects.count() == 1
