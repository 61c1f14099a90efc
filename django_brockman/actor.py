"""The fl_actor_id cookie: which values to trust, how to mint one, how to set it."""

from __future__ import annotations

import re
import uuid

from django.http import HttpRequest, HttpResponseBase

from django_brockman.conf import conf

# The cookie is set by the browser and can hold anything. Only short tokens of these
# characters are used: they cannot carry markup, quotes or control characters into a
# page, a log line or a header.
ACTOR_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

# The browser script keeps its cookie for 3650 days; a minted one lives as long.
COOKIE_MAX_AGE = 3650 * 24 * 60 * 60


def clean_actor_id(value: str | None) -> str | None:
    """Return *value* if it is a usable actor id, else None (never a repaired value)."""
    if value is not None and ACTOR_ID_PATTERN.fullmatch(value):
        return value
    return None


def new_actor_id() -> str:
    """A fresh id in the browser script's format: 36 lowercase hex digits and dashes."""
    return str(uuid.uuid4())


def actor_id_from_cookie(request: HttpRequest) -> str | None:
    return clean_actor_id(request.COOKIES.get(conf.ACTOR_COOKIE))


def set_actor_cookie(response: HttpResponseBase, request: HttpRequest, actor_id: str) -> None:
    """Set the cookie as the browser script would, so the script keeps using the id.

    It must stay readable from JavaScript (no HttpOnly): the script sends it with
    every event it records.
    """
    response.set_cookie(
        conf.ACTOR_COOKIE,
        actor_id,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=request.is_secure(),
        httponly=False,
        samesite="Lax",
    )
