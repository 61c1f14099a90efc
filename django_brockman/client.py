"""FocusLabClient: the FocusLab trigger API on the wire; plain values in, no ORM, no settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import requests

from django_brockman import __version__
from django_brockman.exceptions import (
    BadAPIKey,
    BadRequest,
    FocusLabError,
    NetworkError,
    ResourceNotFound,
    ServerError,
    Timeout,
    UnknownError,
    excerpt,
)

DEFAULT_ENDPOINT = "https://api.focuslab.io/api/v1/"
DEFAULT_TIMEOUT = 10.0
USER_AGENT = f"django-brockman/{__version__}"

_ERRORS_BY_STATUS: dict[int, type[FocusLabError]] = {
    400: BadRequest,
    401: BadAPIKey,
    403: BadAPIKey,
    404: ResourceNotFound,
}


def normalize_endpoint(endpoint: str) -> str:
    """Return *endpoint* with the trailing slash that urljoin needs.

    Without it, ``urljoin("https://host/api/v1", "trigger/")`` would drop ``v1``.
    """
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(
            f"The FocusLab endpoint must be an http:// or https:// URL, got {endpoint!r}."
        )
    return endpoint if endpoint.endswith("/") else endpoint + "/"


def build_body(
    actor_id: str,
    action: str,
    obj: str,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the JSON body of one trigger, leaving out empty dicts as the API expects."""
    body: dict[str, Any] = {"actor_id": str(actor_id), "action": action, "object": obj}
    for key, value in (
        ("captured_identities", identities),
        ("captured_attributes", attributes),
        ("variables", variables),
    ):
        if value:
            body[key] = dict(value)
    return body


def redact(text: str, secret: str) -> str:
    """Return *text* with every occurrence of *secret* masked."""
    return text.replace(secret, "[redacted]") if secret else text


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


def error_for(response: requests.Response, secret: str = "") -> FocusLabError:
    """Map a non-201 response to the reference client's exception for it.

    A server that echoes the request's headers back must not put the API key into an
    exception message, a log line or the outbox's ``last_error``: *secret* is masked.
    """
    status = response.status_code
    cls = _ERRORS_BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else UnknownError
    body = redact(response.text, secret)
    return cls(status=status, body=body, retry_after=response.headers.get("Retry-After"))


class FocusLabClient:
    """Send triggers to FocusLab over one keep-alive session.

    The reference client's API: ``FocusLabClient(api_key).record_trigger(actor_id,
    action, obj, identities, attributes, variables)``. Not thread-safe: give each thread
    its own client.
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
        self._api_key = api_key
        self.endpoint = normalize_endpoint(endpoint)
        self.trigger_url = urljoin(self.endpoint, "trigger/")
        self.timeout = timeout
        if session is None:
            session = requests.Session()
            read_environment_once(session, self.trigger_url)
        self.session = session
        self.session.headers.update({"User-Agent": USER_AGENT, "X-FL-API-KEY": api_key})

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

    def record_trigger(
        self,
        actor_id: str,
        action: str,
        obj: str,
        identities: Mapping[str, Any] | None = None,
        attributes: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """POST one trigger; return on 201, raise a FocusLabError subclass otherwise."""
        body = build_body(actor_id, action, obj, identities, attributes, variables)
        self.post(json.dumps(body).encode(), idempotency_key=idempotency_key)

    def post(self, data: bytes, *, idempotency_key: str | None = None) -> None:
        """POST an already encoded trigger body."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            # Never follow a redirect: requests would re-send the X-FL-API-KEY header
            # to whatever host the Location names. A 3xx is an UnknownError instead.
            response = self.session.post(
                self.trigger_url,
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise Timeout(f"FocusLab did not answer within {self.timeout} seconds") from exc
        except requests.RequestException as exc:
            reason = excerpt(redact(f"{type(exc).__name__}: {exc}", self._api_key))
            raise NetworkError(f"Could not reach FocusLab ({reason})") from exc
        if response.status_code != 201:
            raise error_for(response, self._api_key)
