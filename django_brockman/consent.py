"""Whether a request may be recorded: BROCKMAN_ENABLED and BROCKMAN_CONSENT."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest

from django_brockman.callables import CallableFailed, call
from django_brockman.conf import conf

ConsentFunction = Callable[[HttpRequest], bool]


def honour_do_not_track(request: HttpRequest) -> bool:
    """A BROCKMAN_CONSENT choice: refuse when the browser sends ``DNT: 1`` or ``Sec-GPC: 1``."""
    headers = request.headers
    return headers.get("DNT") != "1" and headers.get("Sec-GPC") != "1"


def may_record(request: HttpRequest | None) -> bool:
    """False when recording is off, or when BROCKMAN_CONSENT refuses this request.

    Without a request (a management command, a signal hook) there is nobody to ask,
    so only BROCKMAN_ENABLED counts. A callable that raises in production refuses:
    consent cannot be assumed (its error is logged).
    """
    if not conf.ENABLED:
        return False
    path = conf.CONSENT
    if request is None or path is None:
        return True
    try:
        return bool(call("BROCKMAN_CONSENT", path, request))
    except CallableFailed:
        return False
