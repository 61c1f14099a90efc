"""Whether a request may be recorded: BROCKMAN_ENABLED and BROCKMAN_CONSENT."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.http import HttpRequest
from django.utils.module_loading import import_string

from django_brockman.conf import conf

ConsentFunction = Callable[[HttpRequest], bool]


def honour_do_not_track(request: HttpRequest) -> bool:
    """A BROCKMAN_CONSENT choice: refuse when the browser sends ``DNT: 1`` or ``Sec-GPC: 1``."""
    headers = request.headers
    return headers.get("DNT") != "1" and headers.get("Sec-GPC") != "1"


@functools.cache
def load(path: str) -> ConsentFunction:
    function: ConsentFunction = import_string(path)
    return function


def may_record(request: HttpRequest | None) -> bool:
    """False when recording is off, or when BROCKMAN_CONSENT refuses this request.

    Without a request (a management command, a signal hook) there is nobody to ask,
    so only BROCKMAN_ENABLED counts.
    """
    if not conf.ENABLED:
        return False
    path = conf.CONSENT
    if request is None or path is None:
        return True
    return bool(load(path)(request))
