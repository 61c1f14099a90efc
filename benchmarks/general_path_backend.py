"""The HTTP backend as it sent before each request was prepared once: requests' general
path (``Session.post``, which merges settings, runs hooks, keeps a cookie jar and resolves
redirects) and the whole body read. The baseline of figure 4c and of the error-body RSS
figure's "before" line."""

from __future__ import annotations

import json

import requests

from django_brockman.backends.http import HttpBackend
from django_brockman.client import USER_AGENT, build_body, error_for, read_environment_once
from django_brockman.exceptions import NetworkError
from django_brockman.models import Trigger


class GeneralPathBackend(HttpBackend):
    def open(self) -> None:
        if getattr(self, "session", None) is None:
            self.url = self.endpoint.rstrip("/") + "/trigger/"
            self.session = requests.Session()
            read_environment_once(self.session, self.url)
            self.session.headers.update({"User-Agent": USER_AGENT, "X-FL-API-KEY": self._api_key})

    def close(self) -> None:
        if getattr(self, "session", None) is not None:
            self.session.close()
            self.session = None

    def send(self, trigger: Trigger) -> None:
        self.open()
        body = json.dumps(build_body(**trigger.payload())).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": str(trigger.uuid)}
        try:
            response = self.session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise NetworkError(cause=f"{type(exc).__name__}: {exc}"[:200]) from exc
        if response.status_code != 201:
            raise error_for(response, self._api_key, response.content)
