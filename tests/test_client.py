"""FocusLabClient: the wire format, byte for byte, and the status mapping."""

from __future__ import annotations

import errno
import json
import socket
from http.client import RemoteDisconnected

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NameResolutionError

from django_brockman import __version__
from django_brockman.client import FocusLabClient, build_body, normalize_endpoint
from django_brockman.exceptions import (
    BadAPIKey,
    BadRequest,
    FocusLabError,
    NetworkError,
    ResourceNotFound,
    ServerError,
    Timeout,
    UnknownError,
    cause_of,
)
from django_brockman.wire import network_cause
from tests.rawhttp import CREATED, Answer, RawServer, scripted

URL = "https://focuslab.test/api/v1/trigger/"
KEY = "secret-key-123"


@pytest.fixture
def client() -> FocusLabClient:
    return FocusLabClient(KEY, endpoint="https://focuslab.test/api/v1/", timeout=3)


def test_record_trigger_sends_exact_bytes(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=201, json={})

    client.record_trigger(
        "a1", "viewed", "page", {"email": "x@example.com"}, {"plan": "pro"}, {"n": [1, 2.5]}
    )

    request = mocked_api.calls[0].request
    assert request.url == URL
    assert request.body == (
        b'{"actor_id": "a1", "action": "viewed", "object": "page", '
        b'"captured_identities": {"email": "x@example.com"}, '
        b'"captured_attributes": {"plan": "pro"}, "variables": {"n": [1, 2.5]}}'
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-FL-API-KEY"] == KEY
    assert request.headers["User-Agent"] == f"django-brockman/{__version__}"
    assert "Idempotency-Key" not in request.headers


def test_record_trigger_omits_empty_and_none_dicts(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=201)

    client.record_trigger("a1", "viewed", "page", {}, None, {})

    assert json.loads(mocked_api.calls[0].request.body) == {
        "actor_id": "a1",
        "action": "viewed",
        "object": "page",
    }


def test_record_trigger_sends_idempotency_key(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(
        responses.POST,
        URL,
        status=201,
        match=[matchers.header_matcher({"Idempotency-Key": "uuid-1"})],
    )

    client.record_trigger("a1", "viewed", "page", idempotency_key="uuid-1")

    assert len(mocked_api.calls) == 1


def test_record_trigger_passes_timeout(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(
        responses.POST, URL, status=201, match=[matchers.request_kwargs_matcher({"timeout": 3})]
    )

    client.record_trigger("a1", "viewed", "page")

    assert len(mocked_api.calls) == 1


def test_client_reuses_one_session(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=201)
    session = client.session

    client.record_trigger("a1", "viewed", "page")
    client.record_trigger("a2", "viewed", "page")

    assert client.session is session
    assert len(mocked_api.calls) == 2


def test_build_body_stringifies_actor_id() -> None:
    assert build_body(42, "a", "o") == {"actor_id": "42", "action": "a", "object": "o"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, BadAPIKey),
        (403, BadAPIKey),
        (404, ResourceNotFound),
        (500, ServerError),
        (503, ServerError),
        (200, UnknownError),
        (202, UnknownError),
        (429, UnknownError),
        (302, UnknownError),
    ],
)
def test_record_trigger_maps_status_to_error(
    client: FocusLabClient,
    mocked_api: responses.RequestsMock,
    status: int,
    error: type[FocusLabError],
) -> None:
    mocked_api.add(
        responses.POST, URL, status=status, body="nope " * 100, headers={"Retry-After": "7"}
    )

    with pytest.raises(error) as info:
        client.record_trigger("a1", "viewed", "page")

    assert type(info.value) is error
    assert info.value.status == status
    assert info.value.body.startswith("nope nope")
    assert len(info.value.body) <= 200
    assert info.value.retry_after == "7"


def test_record_trigger_wraps_timeout(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, body=requests.ReadTimeout("slow"))

    with pytest.raises(Timeout) as info:
        client.record_trigger("a1", "viewed", "page")

    assert info.value.status is None
    assert isinstance(info.value, NetworkError)


def test_record_trigger_wraps_connection_error(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, body=requests.ConnectionError("refused"))

    with pytest.raises(NetworkError) as info:
        client.record_trigger("a1", "viewed", "page")

    assert "refused" in str(info.value)
    assert not isinstance(info.value, Timeout)


def test_errors_never_show_the_api_key(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=401, body="bad key")

    with pytest.raises(BadAPIKey) as info:
        client.record_trigger("a1", "viewed", "page")

    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert KEY not in repr(client)


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("https://h.test/api/v1/", "https://h.test/api/v1/"),
        ("https://h.test/api/v1", "https://h.test/api/v1/"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x/"),
    ],
)
def test_normalize_endpoint_adds_trailing_slash(endpoint: str, expected: str) -> None:
    assert normalize_endpoint(endpoint) == expected


def test_client_posts_below_endpoint_without_trailing_slash(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, URL, status=201)

    FocusLabClient(KEY, endpoint="https://focuslab.test/api/v1").record_trigger("a", "b", "c")

    assert mocked_api.calls[0].request.url == URL


def test_normalize_endpoint_rejects_non_http() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        normalize_endpoint("focuslab.test/api/v1/")


def test_client_requires_api_key() -> None:
    with pytest.raises(ValueError, match="API key"):
        FocusLabClient("")


def test_client_closes_session_on_exit(mocked_api: responses.RequestsMock) -> None:
    closed = []
    with FocusLabClient(KEY) as client:
        client.session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    assert closed == [True]


def test_errors_mask_the_api_key_echoed_by_the_server(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=403, body=f"key {KEY} is not valid")

    with pytest.raises(BadAPIKey) as info:
        client.record_trigger("a1", "viewed", "page")

    assert KEY not in str(info.value)
    assert "key [redacted] is not valid" in str(info.value)


def test_network_errors_mask_the_api_key(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, body=requests.ConnectionError(f"refused {KEY}"))

    with pytest.raises(NetworkError) as info:
        client.record_trigger("a1", "viewed", "page")

    assert KEY not in str(info.value)


def test_error_body_never_contains_the_api_key(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    mocked_api.add(responses.POST, URL, status=502, body=f"proxy error; you sent key {KEY}")

    with pytest.raises(ServerError) as caught:
        client.record_trigger("a1", "viewed", "page")

    assert KEY not in str(caught.value)
    assert caught.value.body == "proxy error; you sent key [redacted]"


def test_record_trigger_does_not_follow_redirects(
    client: FocusLabClient, mocked_api: responses.RequestsMock
) -> None:
    # Following it would send the X-FL-API-KEY header to whatever host Location names.
    mocked_api.add(
        responses.POST, URL, status=307, headers={"Location": "https://elsewhere.test/x/"}
    )
    mocked_api.add(responses.POST, "https://elsewhere.test/x/", status=201)

    with pytest.raises(UnknownError) as caught:
        client.record_trigger("a1", "viewed", "page")

    assert caught.value.status == 307
    assert [call.request.url for call in mocked_api.calls] == [URL]


def test_client_reads_proxy_settings_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/site-ca.pem")

    client = FocusLabClient(KEY)

    assert client.session.proxies["https"] == "http://proxy.test:3128"
    assert client.session.verify == "/etc/ssl/certs/site-ca.pem"
    # Not scanned again on each request.
    assert client.session.trust_env is False


def test_client_honours_no_proxy_for_its_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("NO_PROXY", "focuslab.test")

    client = FocusLabClient(KEY, endpoint="https://focuslab.test/api/v1/")

    assert "https" not in client.session.proxies


def test_client_leaves_a_given_session_as_configured() -> None:
    session = requests.Session()

    FocusLabClient(KEY, session=session)

    assert session.trust_env is True


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_refused_connection_is_named_with_the_url() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}/api/v1/"
    client = FocusLabClient(KEY, endpoint, timeout=2)

    with pytest.raises(NetworkError) as caught:
        client.record_trigger("a1", "viewed", "page")

    assert caught.value.cause == "connection refused"
    assert str(caught.value) == f"connection refused ({endpoint}trigger/)"
    assert caught.value.url == endpoint + "trigger/"


def test_silent_server_is_a_timeout_in_seconds() -> None:
    with RawServer(scripted(Answer(parts=(), hold=3))) as server:
        client = FocusLabClient(KEY, server.endpoint, timeout=0.5)

        with pytest.raises(Timeout) as caught:
            client.record_trigger("a1", "viewed", "page")

    assert str(caught.value) == f"timed out after 0.5 s ({server.trigger_url})"


def test_tls_to_a_plain_http_server_is_a_tls_error() -> None:
    with RawServer(greeting=CREATED) as server:
        endpoint = server.endpoint.replace("http://", "https://")
        client = FocusLabClient(KEY, endpoint, timeout=2)

        with pytest.raises(NetworkError) as caught:
            client.record_trigger("a1", "viewed", "page")

    assert caught.value.cause.startswith("TLS error (")
    assert "HTTPSConnectionPool" not in str(caught.value)


def test_unresolved_name_is_named_without_urllib3s_wrapper() -> None:
    # Built as urllib3 and requests wrap it, without asking a resolver.
    resolution = NameResolutionError(
        "focuslab.invalid",
        None,
        socket.gaierror(-2, "Name or service not known"),  # type: ignore[arg-type]
    )
    retries = MaxRetryError(None, "/api/v1/trigger/", resolution)  # type: ignore[arg-type]

    assert network_cause(requests.ConnectionError(retries), 10) == "name not resolved"


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (requests.ConnectionError(ConnectionResetError(104, "reset")), "connection reset"),
        (requests.ConnectionError(OSError(errno.ENETUNREACH, "x")), "network unreachable"),
        (requests.ConnectionError(OSError(errno.EHOSTUNREACH, "x")), "host unreachable"),
        (requests.ConnectTimeout("slow"), "connection timed out after 10 s"),
        (requests.ReadTimeout("slow"), "timed out after 10 s"),
        (
            requests.ConnectionError(RemoteDisconnected("gone")),
            "connection closed without an answer",
        ),
        (ValueError("Invalid IPv6 URL"), "ValueError: Invalid IPv6 URL"),
    ],
)
def test_network_cause_finds_the_root_cause(error: BaseException, cause: str) -> None:
    assert network_cause(error, 10) == cause


def test_error_text_leads_with_status_and_url() -> None:
    error = ServerError(status=503, body="later", url=URL)

    assert error.cause == "HTTP 503"
    assert str(error) == f"HTTP 503 ({URL}): FocusLab had a server error | body: later"
    assert cause_of(error) == "HTTP 503"
    assert cause_of(KeyError("x")) == "KeyError"


def test_error_raised_bare_reads_as_the_reference_did() -> None:
    assert str(ServerError()) == "FocusLab had a server error"


def test_error_url_never_shows_credentials_of_the_endpoint(
    mocked_api: responses.RequestsMock,
) -> None:
    mocked_api.add(responses.POST, "https://user:pw@focuslab.test/api/v1/trigger/", status=500)
    client = FocusLabClient(KEY, "https://user:pw@focuslab.test/api/v1/")

    with pytest.raises(ServerError) as caught:
        client.record_trigger("a1", "viewed", "page")

    assert caught.value.url == "https://focuslab.test/api/v1/trigger/"
    assert "pw" not in str(caught.value)


def test_error_texts_hold_no_control_characters() -> None:
    # A NUL cannot be stored in a PostgreSQL text column: last_error would not be written.
    error = ServerError(status=500, body="a\x00b\x1bc\nd", url=URL)
    network = NetworkError(cause="malformed answer (\x00\x00)", url=URL)

    assert error.body == "a\ufffdb\ufffdc\nd"
    assert "\x00" not in str(network)
