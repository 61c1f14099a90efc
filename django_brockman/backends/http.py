"""The default backend: POST each trigger to the FocusLab API."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from django_brockman.backends.base import BaseBackend
from django_brockman.client import FocusLabClient
from django_brockman.conf import conf, endpoint_problem

if TYPE_CHECKING:
    from django_brockman.models import Trigger


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
        self._api_key = api_key if api_key is not None else conf.API_KEY
        if not self._api_key:
            raise ImproperlyConfigured("BROCKMAN_API_KEY is not set: nothing can be delivered.")
        self.endpoint = endpoint if endpoint is not None else conf.ENDPOINT
        # Checked here, before a flush claims anything, and as a configuration error.
        problem = endpoint_problem(self.endpoint)
        if problem:
            raise ImproperlyConfigured(problem)
        self.timeout = timeout if timeout is not None else conf.TIMEOUT
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
