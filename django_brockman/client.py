"""FocusLabClient: the FocusLab trigger API on the wire; plain values in, no ORM, no settings.

A drop-in for the reference client (``brockman.client.FocusLabClient``): the same
attributes and methods, the same exceptions, the same bytes on the wire; README.rst's
"Differences from the reference client" lists what it does differently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from django_brockman import __version__
from django_brockman.defaults import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, normalize_endpoint
from django_brockman.exceptions import (
    BadAPIKey,
    BadRequest,
    FocusLabError,
    NetworkError,
    ResourceNotFound,
    ServerError,
    Timeout,
    UnknownError,
)
from django_brockman.payload import TriggerData
from django_brockman.wire import decode_body, network_cause, read_prefix

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_TIMEOUT", "FocusLabClient", "normalize_endpoint"]

USER_AGENT = f"django-brockman/{__version__}"

_ERRORS_BY_STATUS: dict[int, type[FocusLabError]] = {
    400: BadRequest,
    401: BadAPIKey,
    403: BadAPIKey,
    404: ResourceNotFound,
}


def trigger_data(
    actor_id: object,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> TriggerData:
    """The trigger as the reference client made it: the three names as their ``str()``
    (an int, a UUID, a lazy translation), and None dicts as empty ones."""
    return TriggerData(
        str(actor_id), str(action), str(obj), identities or {}, attributes or {}, variables or {}
    )


def build_body(
    actor_id: object,
    action: object,
    obj: object,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the JSON body of one trigger, leaving out empty dicts as the API expects."""
    return trigger_data(actor_id, action, obj, identities, attributes, variables).body()


def redact(text: str, secret: str) -> str:
    """Return *text* with every occurrence of *secret* masked."""
    return text.replace(secret, "[redacted]") if secret else text


def display_url(url: str) -> str:
    """*url* as errors show it: without a user name or password in it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def read_environment_once(session: requests.Session, url: str) -> None:
    """Apply the environment's proxy and CA-bundle settings for *url* to *session* now.

    A session that trusts the environment scans every variable of it on each request to
    find them, which costs as much CPU as the rest of a request's bookkeeping. The
    environment does not change under a running client, so read it once. (Netrc
    credentials, the other thing the environment gives, are never wanted: the API key
    travels in a header.)
    """
    found = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]
    if found["cert"] is not None:
        session.cert = found["cert"]
    session.trust_env = False


def error_class(status: int) -> type[FocusLabError]:
    """The reference client's exception for a status other than 201.

    The reference raised ServerError for 500 only; any 5xx is one here (a 502 or 503 from
    a proxy is a server error too). Everything else, 200 and 600 to 999 included, is an
    UnknownError.
    """
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if 500 <= status <= 599 else UnknownError
    return cls


def error_for(response: requests.Response, secret: str = "", body: bytes = b"") -> FocusLabError:
    """Map a non-201 response to the reference client's exception for it.

    *body* is the prefix of the body that was read. A server that echoes the request's
    headers back must not put the API key into an exception message, a log line or the
    outbox's ``last_error``: *secret* is masked.
    """
    headers = response.headers
    text = decode_body(body, headers.get("Content-Encoding", ""), headers.get("Content-Type", ""))
    return error_class(response.status_code)(
        status=response.status_code,
        body=redact(text, secret),
        retry_after=headers.get("Retry-After"),
        url=display_url(response.url or ""),
    )


class FocusLabClient:
    """Send triggers to FocusLab over one keep-alive session.

    The reference client's API: ``FocusLabClient(api_key, endpoint)``, ``api_key`` and
    ``endpoint`` read back as given, ``get_url()``, ``get_trigger_data()``,
    ``get_headers()`` and ``record_trigger(actor_id, action, obj, identities,
    attributes, variables)``. Not thread-safe: give each thread its own client.

    Each request is the same POST to the same URL, so it is prepared once (URL, headers,
    the session's settings) and each trigger only adds its body: no cookie jar, hooks
    or settings merge per request, and redirects are never followed.
    """

    def __init__(
        self,
        api_key: str,
        endpoint: str = DEFAULT_ENDPOINT,
        timeout: float = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("FocusLabClient needs an API key.")
        normalize_endpoint(endpoint)
        self._api_key = api_key
        self._endpoint = endpoint
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            read_environment_once(session, self.get_url("trigger"))
        self.session = session
        self._prepare()

    @property
    def api_key(self) -> str:
        return self._api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        self._api_key = value
        self._prepare()

    @property
    def endpoint(self) -> str:
        """The endpoint as it was given; URLs are joined onto it with a trailing slash."""
        return self._endpoint

    @endpoint.setter
    def endpoint(self, value: str) -> None:
        normalize_endpoint(value)
        self._endpoint = value
        self._prepare()

    def _prepare(self) -> None:
        """Prepare the one request every trigger is sent as, and how to send it."""
        self.trigger_url = self.get_url("trigger")
        headers = {"User-Agent": USER_AGENT, **self.get_headers()}
        request = requests.Request("POST", self.trigger_url, headers=headers)
        self._prepared = self.session.prepare_request(request)
        self._adapter = self.session.get_adapter(self.trigger_url)
        found = self.session.merge_environment_settings(self.trigger_url, {}, None, None, None)
        self._send_options: dict[str, Any] = {
            "stream": True,
            "proxies": found["proxies"],
            "verify": found["verify"],
            "cert": found["cert"],
        }

    def __repr__(self) -> str:
        # The API key is a secret: never part of a repr.
        return f"<FocusLabClient endpoint={self.endpoint!r} timeout={self.timeout!r}>"

    def __enter__(self) -> FocusLabClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the keep-alive session (leaving the ``with`` block does it)."""
        self.session.close()

    def get_url(self, resource: str) -> str:
        """*resource* with a trailing slash, joined onto the endpoint."""
        if not resource.endswith("/"):
            resource += "/"
        return urljoin(normalize_endpoint(self.endpoint), resource)

    def get_trigger_data(
        self,
        actor_id: object,
        action: object,
        obj: object,
        identities: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The JSON body of one trigger: the three names as text, then each non-empty
        dict (``captured_identities``, ``captured_attributes``, ``variables``)."""
        return build_body(actor_id, action, obj, identities, attributes, variables)

    def get_headers(self) -> dict[str, str]:
        """The API's two headers: ``Content-Type`` and ``X-FL-API-KEY``."""
        return {"Content-Type": "application/json", "X-FL-API-KEY": str(self.api_key)}

    def record_trigger(
        self,
        actor_id: object,
        action: object,
        obj: object,
        identities: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """POST one trigger; return on 201, raise a FocusLabError subclass otherwise."""
        body = self.get_trigger_data(actor_id, action, obj, identities, attributes, variables)
        self.post(json.dumps(body).encode(), idempotency_key=idempotency_key)

    def post(self, data: bytes, *, idempotency_key: str | None = None) -> None:
        """POST an already encoded trigger body."""
        request = self._request(data, idempotency_key)
        deadline = time.monotonic() + self.timeout
        try:
            # Sent through the adapter: the session's redirect handling (which parses
            # the Location header even when not following it) never sees the answer,
            # and a redirect is never followed, which would carry the API key elsewhere.
            response = self._adapter.send(request, timeout=self.timeout, **self._send_options)
        except Exception as exc:
            # Whatever the server sent, or failed to: data, never a crash.
            raise self._network_error(exc) from exc
        self._answer(response, deadline)

    def _request(self, data: bytes, idempotency_key: str | None) -> requests.PreparedRequest:
        template = self._prepared
        request = requests.PreparedRequest()
        request.method = template.method
        request.url = template.url
        request.headers = template.headers.copy()
        request.headers["Content-Length"] = str(len(data))
        if idempotency_key:
            request.headers["Idempotency-Key"] = idempotency_key
        request.body = data
        return request

    def _answer(self, response: requests.Response, deadline: float) -> None:
        """Return on 201; raise the error the answer means otherwise."""
        status = response.status_code
        # An interim answer (1xx) with no final one after it leaves bytes on the
        # connection that belong to no request: it is dropped, its body unread.
        body, complete = (b"", False) if status < 200 else read_prefix(response.raw, deadline)
        try:
            if status != 201:
                raise error_for(response, str(self.api_key), body)
        finally:
            if not complete:
                # The rest of a large, slow or broken body is never read: the
                # connection is closed instead (and reopened for the next request).
                response.raw.close()
            # Back to the pool: open when the body was read to its end.
            response.raw.release_conn()

    def _network_error(self, exc: Exception) -> NetworkError:
        cls = Timeout if isinstance(exc, requests.Timeout) else NetworkError
        cause = redact(network_cause(exc, self.timeout), str(self.api_key))
        return cls(cause=cause, url=display_url(self.trigger_url))
