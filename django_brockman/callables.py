"""The site's BROCKMAN_CONSENT and BROCKMAN_IDENTITIES callables: found by dotted path, and
never allowed to break a page in production."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

logger = logging.getLogger("django_brockman.capture")


class CallableFailed(Exception):
    """A site callable raised in production. Its error was logged; record nothing."""


@functools.cache
def load(path: str) -> Callable[[HttpRequest], Any]:
    # Cached by path, so override_settings still takes effect and a page view does not
    # pay for an import lookup.
    function: Callable[[HttpRequest], Any] = import_string(path)
    return function


def call(setting: str, path: str, request: HttpRequest) -> Any:
    """The result of the callable at *path* (the value of *setting*) for *request*.

    Its error is raised under DEBUG, so the mistake is seen where it is made; in
    production it is logged with its traceback and CallableFailed is raised instead.
    """
    try:
        return load(path)(request)
    except Exception as exc:
        if settings.DEBUG:
            raise
        logger.exception("%s %r raised, so nothing was recorded for this request.", setting, path)
        raise CallableFailed(setting) from exc
