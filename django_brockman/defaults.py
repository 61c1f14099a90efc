"""The FocusLab API's defaults and the endpoint rule, shared by the settings, the system
checks and the client. Plain Python: no Django, no requests."""

from __future__ import annotations

DEFAULT_ENDPOINT = "https://api.focuslab.io/api/v1/"
# Seconds a request to FocusLab may take, connecting and reading.
DEFAULT_TIMEOUT = 10.0


def is_http_url(endpoint: object) -> bool:
    """Whether *endpoint* is an http:// or https:// URL, as the endpoint must be."""
    return isinstance(endpoint, str) and endpoint.startswith(("http://", "https://"))


def normalize_endpoint(endpoint: str) -> str:
    """Return *endpoint* with the trailing slash that urljoin needs.

    Without it, ``urljoin("https://host/api/v1", "trigger/")`` would drop ``v1``.
    Raises ValueError when *endpoint* is not an http(s) URL.
    """
    if not is_http_url(endpoint):
        raise ValueError(
            f"The FocusLab endpoint must be an http:// or https:// URL, got {endpoint!r}."
        )
    return endpoint if endpoint.endswith("/") else endpoint + "/"
