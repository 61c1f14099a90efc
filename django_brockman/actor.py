"""The fl_actor_id cookie: which values to trust, how to mint one, how to set it, and
whose actor a request is."""

from __future__ import annotations

import re
import uuid

from django.http import HttpRequest, HttpResponseBase

from django_brockman.conf import WHEN_NEEDED, conf

MIDDLEWARE_PATH = "django_brockman.middleware.BrockmanMiddleware"
# Where BrockmanMiddleware keeps the request's ActorMint.
MINT_ATTRIBUTE = "_brockman_actor_mint"

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


def may_mint() -> bool:
    """Whether BROCKMAN_SET_ACTOR_COOKIE lets the middleware mint ids at all."""
    mode = conf.SET_ACTOR_COOKIE
    return mode is True or mode == WHEN_NEEDED


class ActorMint:
    """A request's minted actor id: minted once, on first need; the middleware sets it as
    the cookie on the response.

    Closed when the response leaves the middleware: an id minted after that (in a
    streaming response's body) could never reach the browser.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.closed = False
        self.minted: str | None = None

    def mint(self) -> str | None:
        if self.minted is None and self.enabled and not self.closed:
            self.minted = new_actor_id()
        return self.minted

    def close(self) -> str | None:
        """Mint nothing more; return the id minted for this request, if any."""
        self.closed = True
        return self.minted


def request_actor_id(request: HttpRequest) -> object:
    """The request's actor: the cookie's id, else the signed-in user's pk, else an id
    minted now if BrockmanMiddleware may mint one; None when there is none."""
    actor_id = getattr(request, "fl_actor_id", None)
    if actor_id is not None:
        return actor_id
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.pk
    mint: ActorMint | None = getattr(request, MINT_ATTRIBUTE, None)
    minted = mint.mint() if mint is not None else None
    if minted is not None:
        # The request's later triggers, and {% brockman_actor_id %}, see the same id.
        request.fl_actor_id = minted  # type: ignore[attr-defined]
    return minted


def how_to_get_an_actor(request: HttpRequest) -> str:
    """What would have given *request* an actor: for the warning when it has none."""
    mint: ActorMint | None = getattr(request, MINT_ATTRIBUTE, None)
    if mint is None:
        return (
            f"add {MIDDLEWARE_PATH!r} to MIDDLEWARE (after AuthenticationMiddleware), so "
            "that an id is minted when a trigger needs one"
        )
    if mint.closed:
        return (
            "record before the response leaves the view: this trigger was recorded after "
            "BrockmanMiddleware had handled the response (in a streaming response's body), "
            "too late to set the cookie"
        )
    return (
        f"set BROCKMAN_SET_ACTOR_COOKIE to {WHEN_NEEDED!r} (the default) instead of "
        f"{conf.SET_ACTOR_COOKIE!r}, so that an id is minted when a trigger needs one"
    )
