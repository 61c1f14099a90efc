"""BrockmanMiddleware: puts the visitor's actor id on ``request.fl_actor_id``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from django_brockman.actor import (
    MINT_ATTRIBUTE,
    ActorMint,
    actor_id_from_cookie,
    may_mint,
    set_actor_cookie,
)
from django_brockman.conf import conf

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class BrockmanMiddleware:
    """Read the ``fl_actor_id`` cookie; mint one as BROCKMAN_SET_ACTOR_COOKIE says (by
    default when a trigger needs it) and set it on the response.

    No database work: the cookie is parsed and checked, nothing more.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse | AsyncGetResponse) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            # Django checks this to call the middleware without an async-to-sync hop.
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        mint = self.process_request(request)
        response = cast(HttpResponseBase, self.get_response(request))
        return self.process_response(request, response, mint)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        mint = self.process_request(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response, mint)

    def process_request(self, request: HttpRequest) -> ActorMint:
        """Set ``request.fl_actor_id``; return the mint that recording may draw an id from."""
        actor_id = actor_id_from_cookie(request)
        mint = ActorMint(enabled=actor_id is None and may_mint())
        if mint.enabled and conf.SET_ACTOR_COOKIE is True:
            actor_id = mint.mint()
        request.fl_actor_id = actor_id  # type: ignore[attr-defined]
        setattr(request, MINT_ATTRIBUTE, mint)
        return mint

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase, mint: ActorMint
    ) -> HttpResponseBase:
        minted = mint.close()
        if minted is not None and conf.ACTOR_COOKIE not in response.cookies:
            set_actor_cookie(response, request, minted)
            # A page that mints a visitor's id must not be cached and served to others
            # with the same Set-Cookie: Django's cache middleware skips such a response.
            patch_vary_headers(response, ("Cookie",))
        return response
