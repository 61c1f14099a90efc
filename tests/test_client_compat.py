"""FocusLabClient as a drop-in for the reference client (``brockman.client``): every
behaviour the reference's own test suite checks, and the ones its users relied on."""

from __future__ import annotations

import json
import uuid

import pytest
import responses
from django.utils.translation import gettext_lazy

from django_brockman.client import FocusLabClient
from django_brockman.exceptions import (
    BadAPIKey,
    BadRequest,
    FocusLabError,
    ResourceNotFound,
    ServerError,
    UnknownError,
)

KEY = "testing-key"
DEFAULT_ENDPOINT = "https://api.focuslab.io/api/v1/"
TRIGGER_URL = DEFAULT_ENDPOINT + "trigger/"
IDENTITIES = {"email": ["test1@test.com", "test2@test.com"], "user_id": 42}
ATTRIBUTES = {"tags": ["high-risk", "big-spender"], "plan": "basic"}
VARIABLES = {"tags": ["sales", "promo"], "author": "bob"}


def get_client(**kwargs: str) -> FocusLabClient:
    return FocusLabClient(**{"api_key": KEY, **kwargs})  # type: ignore[arg-type]


def test_simple_init_reads_back_key_and_default_endpoint() -> None:
    client = FocusLabClient(api_key=KEY)

    assert client.api_key == KEY
    assert client.endpoint == DEFAULT_ENDPOINT


def test_full_init_reads_back_key_and_endpoint() -> None:
    endpoint = "https://api.focuslab-dev.io/api/v1/"

    client = FocusLabClient(api_key=KEY, endpoint=endpoint)

    assert client.api_key == KEY
    assert client.endpoint == endpoint


def test_endpoint_without_trailing_slash_reads_back_as_given() -> None:
    # The reference stored it as given, and so does this client; its URLs are joined
    # onto it as if it had the slash (the reference would have dropped "v1").
    client = get_client(endpoint="https://api.focuslab-dev.io/api/v1")

    assert client.endpoint == "https://api.focuslab-dev.io/api/v1"
    assert client.get_url("trigger") == "https://api.focuslab-dev.io/api/v1/trigger/"


def test_get_simple_url() -> None:
    assert get_client().get_url("trigger") == "https://api.focuslab.io/api/v1/trigger/"


def test_get_item_url() -> None:
    assert get_client().get_url("trigger/32") == "https://api.focuslab.io/api/v1/trigger/32/"


def test_get_url_keeps_a_trailing_slash() -> None:
    assert get_client().get_url("trigger/") == TRIGGER_URL


def test_get_basic_data_gives_a_uuid_actor_as_its_text() -> None:
    actor_id = uuid.uuid4()

    result = get_client().get_trigger_data(action="viewed", obj="blog post", actor_id=actor_id)

    assert result == {"action": "viewed", "object": "blog post", "actor_id": str(actor_id)}


@pytest.mark.parametrize(
    ("value", "text"),
    [(42, "42"), (uuid.UUID(int=7), "00000000-0000-0000-0000-000000000007"), ("a", "a")],
)
def test_get_trigger_data_coerces_each_name_with_str(value: object, text: str) -> None:
    result = get_client().get_trigger_data(value, value, value)

    assert result == {"actor_id": text, "action": text, "object": text}


def test_get_trigger_data_coerces_a_lazy_translation() -> None:
    result = get_client().get_trigger_data("a1", gettext_lazy("viewed"), gettext_lazy("page"))

    assert result == {"actor_id": "a1", "action": "viewed", "object": "page"}
    assert all(type(value) is str for value in result.values())


def test_get_full_data() -> None:
    actor_id = uuid.uuid4()

    result = get_client().get_trigger_data(
        action="viewed",
        obj="blog post",
        actor_id=actor_id,
        identities=IDENTITIES,
        attributes=ATTRIBUTES,
        variables=VARIABLES,
    )

    assert result == {
        "action": "viewed",
        "object": "blog post",
        "actor_id": str(actor_id),
        "captured_identities": IDENTITIES,
        "captured_attributes": ATTRIBUTES,
        "variables": VARIABLES,
    }


def test_get_trigger_data_leaves_out_empty_and_none_dicts() -> None:
    result = get_client().get_trigger_data("a", "b", "c", identities={}, attributes=None)

    assert result == {"actor_id": "a", "action": "b", "object": "c"}


def test_get_headers_is_exactly_the_two_headers() -> None:
    client = get_client()

    assert client.get_headers() == {
        "Content-Type": "application/json",
        "X-FL-API-KEY": str(client.api_key),
    }


def test_record_trigger_posts_url_body_and_headers(mocked_api: responses.RequestsMock) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    client = get_client()
    actor_id = uuid.uuid4()

    client.record_trigger(
        actor_id=actor_id,
        action="viewed",
        obj="blog post",
        identities=IDENTITIES,
        attributes=ATTRIBUTES,
        variables={"tags": ["sales", "promo"]},
    )

    (call,) = mocked_api.calls
    assert call.request.method == "POST"
    assert call.request.url == TRIGGER_URL
    assert json.loads(call.request.body) == {
        "action": "viewed",
        "object": "blog post",
        "actor_id": str(actor_id),
        "captured_identities": IDENTITIES,
        "captured_attributes": ATTRIBUTES,
        "variables": {"tags": ["sales", "promo"]},
    }
    for name, value in client.get_headers().items():
        assert call.request.headers[name] == value


def test_record_trigger_is_built_from_the_three_methods(
    mocked_api: responses.RequestsMock,
) -> None:
    # A subclass that overrides them changes what is sent, as with the reference.
    class Custom(FocusLabClient):
        def get_url(self, resource: str) -> str:
            return "https://other.test/v2/" + resource + "/"

        def get_headers(self) -> dict[str, str]:
            return {**super().get_headers(), "X-Extra": "1"}

        def get_trigger_data(self, *args: object, **kwargs: object) -> dict[str, object]:
            return {**super().get_trigger_data(*args, **kwargs), "object": "changed"}  # type: ignore[arg-type]

    mocked_api.add(responses.POST, "https://other.test/v2/trigger/", status=201)

    Custom(KEY).record_trigger("a", "b", "c")

    request = mocked_api.calls[0].request
    assert request.headers["X-Extra"] == "1"
    assert json.loads(request.body)["object"] == "changed"


def test_record_trigger_uses_a_key_changed_after_construction(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=201)
    client = get_client()

    client.api_key = "another-key"
    client.record_trigger("a", "b", "c")

    assert mocked_api.calls[0].request.headers["X-FL-API-KEY"] == "another-key"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, BadAPIKey),
        (403, BadAPIKey),
        (404, ResourceNotFound),
        (500, ServerError),
        (417, UnknownError),
    ],
)
def test_record_trigger_maps_status_to_the_references_exception(
    mocked_api: responses.RequestsMock, status: int, error: type[FocusLabError]
) -> None:
    mocked_api.add(responses.POST, TRIGGER_URL, status=status)

    with pytest.raises(error):
        get_client().record_trigger(uuid.uuid4(), "viewed", "blog post")


@pytest.mark.parametrize(
    "error", [BadAPIKey, BadRequest, ResourceNotFound, ServerError, UnknownError]
)
def test_exceptions_are_raised_bare_as_the_reference_did(error: type[FocusLabError]) -> None:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the reference's own base
        raise error

    assert type(caught.value) is error
    assert str(caught.value) == error.default_message


def test_the_public_api_key_never_shows_in_a_repr() -> None:
    client = get_client()

    assert KEY not in repr(client)
    assert KEY not in str(client)


def test_record_trigger_uses_an_endpoint_changed_after_construction(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, "https://moved.test/api/v2/trigger/", status=201)
    client = get_client()

    client.endpoint = "https://moved.test/api/v2"
    client.record_trigger("a", "b", "c")

    assert client.endpoint == "https://moved.test/api/v2"
    assert mocked_api.calls[0].request.url == "https://moved.test/api/v2/trigger/"


def test_an_endpoint_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        get_client(endpoint="api.focuslab.io/api/v1/")
