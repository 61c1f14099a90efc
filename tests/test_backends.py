"""One contract for every transport backend, and what each one does with a trigger."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_brockman import engine, record_trigger
from django_brockman.backends import get_backend, locmem
from django_brockman.backends.console import ConsoleBackend
from django_brockman.backends.http import HttpBackend
from django_brockman.client import build_body
from django_brockman.exceptions import FocusLabError
from django_brockman.models import Status, Trigger
from tests.conftest import TRIGGER_URL

pytestmark = pytest.mark.django_db

HTTP = "django_brockman.backends.http.HttpBackend"
CONSOLE = "django_brockman.backends.console.ConsoleBackend"
LOCMEM = "django_brockman.backends.locmem.LocmemBackend"
DUMMY = "django_brockman.backends.dummy.DummyBackend"


@dataclass
class Transport:
    """A backend's dotted path, and how a test sees the bodies it delivered."""

    path: str
    delivered: Callable[[], list[dict[str, Any]]]
    drops: bool = False


@pytest.fixture(params=[HTTP, CONSOLE, LOCMEM, DUMMY], ids=["http", "console", "locmem", "dummy"])
def transport(
    request: pytest.FixtureRequest,
    mocked_api: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Transport]:
    path: str = request.param
    locmem.sent.clear()
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    observers: dict[str, Callable[[], list[dict[str, Any]]]] = {
        HTTP: lambda: [json.loads(call.request.body) for call in mocked_api.calls],
        CONSOLE: lambda: [json.loads(line) for line in capsys.readouterr().out.splitlines()],
        LOCMEM: lambda: [trigger_body(trigger) for trigger in locmem.sent],
    }
    # The dummy backend must deliver through none of the other channels.
    channels = list(observers.values())
    observers[DUMMY] = lambda: [body for observe in channels for body in observe()]
    with override_settings(BROCKMAN_BACKEND=path):
        yield Transport(path, observers[path], drops=path == DUMMY)
    locmem.sent.clear()


def trigger_body(trigger: Trigger) -> dict[str, Any]:
    return build_body(**trigger.payload())


def make_trigger(action: str = "viewed") -> Trigger:
    return record_trigger(
        None, action, "page", actor_id="actor-1", identities={"email": "ada@example.com"}
    )


class TestBackendContract:
    """What the flusher relies on, whichever backend BROCKMAN_BACKEND names."""

    def test_backend_resolves_from_setting(self, transport: Transport) -> None:
        backend = type(get_backend())
        assert f"{backend.__module__}.{backend.__qualname__}" == transport.path

    def test_backend_send_returns_none_on_success(self, transport: Transport) -> None:
        with get_backend() as backend:
            assert backend.send(make_trigger()) is None  # type: ignore[func-returns-value]

    def test_backend_open_and_close_are_repeatable(self, transport: Transport) -> None:
        backend = get_backend()
        backend.open()
        backend.open()
        backend.send(make_trigger())
        backend.close()
        backend.close()

    def test_backend_delivers_each_trigger_once_as_its_wire_body(
        self, transport: Transport
    ) -> None:
        first, second = make_trigger("viewed"), make_trigger("clicked")

        with get_backend() as backend:
            backend.send(first)
            backend.send(second)

        expected = [] if transport.drops else [trigger_body(first), trigger_body(second)]
        assert transport.delivered() == expected

    def test_backend_flush_marks_every_trigger_sent(self, transport: Transport) -> None:
        for _ in range(3):
            make_trigger()

        result = engine.flush(concurrency=2)

        assert (result.sent, result.failed) == (3, 0)
        assert set(Trigger.objects.values_list("status", flat=True)) == {Status.SENT}


def test_http_backend_raises_focuslab_error_on_failure(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=500)

    with HttpBackend() as backend, pytest.raises(FocusLabError):
        backend.send(make_trigger())


@override_settings(BROCKMAN_API_KEY="")
def test_http_backend_without_key_is_improperly_configured() -> None:
    with pytest.raises(ImproperlyConfigured, match="BROCKMAN_API_KEY"):
        HttpBackend()


@pytest.mark.parametrize("endpoint", ["focuslab.test/api/v1/", 42])
def test_http_backend_with_bad_endpoint_is_improperly_configured(endpoint: object) -> None:
    with (
        override_settings(BROCKMAN_ENDPOINT=endpoint),
        pytest.raises(ImproperlyConfigured, match="BROCKMAN_ENDPOINT"),
    ):
        HttpBackend()


def test_console_backend_writes_one_json_line_per_trigger_to_its_stream() -> None:
    stream = io.StringIO()
    trigger = make_trigger()

    ConsoleBackend(stream=stream).send(trigger)

    assert stream.getvalue() == (
        '{"actor_id": "actor-1", "action": "viewed", "object": "page", '
        '"captured_identities": {"email": "ada@example.com"}}\n'
    )


def test_locmem_backend_appends_the_trigger_itself() -> None:
    locmem.sent.clear()
    trigger = make_trigger()

    get_backend(LOCMEM).send(trigger)

    assert locmem.sent == [trigger]
    locmem.sent.clear()


@pytest.mark.parametrize("key", ["", None])
def test_http_backend_without_key_says_what_to_do_locally(key: str | None) -> None:
    with override_settings(BROCKMAN_API_KEY=key), pytest.raises(ImproperlyConfigured) as raised:
        HttpBackend()

    message = str(raised.value)
    assert "BROCKMAN_API_KEY is not set" in message
    assert "BROCKMAN_BACKEND = 'django_brockman.backends.console.ConsoleBackend'" in message
    assert "python -m django_brockman.receiver --api-key" in message
    assert "BROCKMAN_ENDPOINT" in message
