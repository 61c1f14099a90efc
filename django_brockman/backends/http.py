"""The default backend: POST each trigger to the FocusLab API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from django_brockman.backends.base import BaseBackend
from django_brockman.client import FocusLabClient
from django_brockman.conf import api_key_problem, conf, endpoint_problem

if TYPE_CHECKING:
    from django_brockman.models import Trigger

#: What to do without a key: the hint of brockman.E001 and the flusher's refusal.
MISSING_API_KEY_HINT = (
    "In production, set BROCKMAN_API_KEY to your FocusLab API key (e.g. from an "
    "environment variable). Locally, print triggers instead with "
    "BROCKMAN_BACKEND = 'django_brockman.backends.console.ConsoleBackend', or deliver "
    "them to the stand-in receiver: run `python -m django_brockman.receiver --api-key "
    "dev-key` and set BROCKMAN_API_KEY = 'dev-key' and "
    "BROCKMAN_ENDPOINT = 'http://127.0.0.1:8765/api/v1/'."
)


def client_settings(
    api_key: str | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
    *,
    settings_of: Callable[[str], str] = conf.setting_name,
) -> tuple[str, str, float]:
    """The key, endpoint and timeout of a settings-configured client: each argument, or
    its setting when None. A missing key or a bad endpoint is a configuration error,
    raised here, before a flush claims anything. *settings_of* names the setting an
    option came from, for the message (a destination's own, say)."""
    key = api_key if api_key is not None else conf.API_KEY
    problem = api_key_problem(key, settings_of("API_KEY"))
    if problem:
        raise ImproperlyConfigured(f"{problem} {MISSING_API_KEY_HINT}")
    url = endpoint if endpoint is not None else conf.ENDPOINT
    # Checked here, before a flush claims anything, and as a configuration error.
    problem = endpoint_problem(url, settings_of("ENDPOINT"))
    if problem:
        raise ImproperlyConfigured(problem)
    return key, url, timeout if timeout is not None else conf.TIMEOUT


class HttpBackend(BaseBackend):
    """Deliver over HTTP with a FocusLabClient; arguments default to the settings."""

    def __init__(
        self,
        api_key: str | None = None,
        endpoint: str | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._api_key, self.endpoint, self.timeout = client_settings(api_key, endpoint, timeout)
        self.client: FocusLabClient | None = None

    def __repr__(self) -> str:
        return f"<HttpBackend endpoint={self.endpoint!r}>"

    def open(self) -> None:
        if self.client is None:
            self.client = FocusLabClient(self._api_key, self.endpoint, self.timeout)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def send(self, trigger: Trigger) -> None:
        self.open()
        assert self.client is not None
        body = json.dumps(trigger.data().body()).encode()
        self.client.post(body, idempotency_key=str(trigger.uuid))
