"""BrockmanMiddleware: puts the visitor's actor id on ``request.fl_actor_id``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_vary_headers

from django_brockman.actor import actor_id_from_cookie, new_actor_id, set_actor_cookie
from django_brockman.conf import conf

GetResponse = Callable[[HttpRequest], HttpResponseBase]
AsyncGetResponse = Callable[[HttpRequest], Awaitable[HttpResponseBase]]


class BrockmanMiddleware:
    """Read the ``fl_actor_id`` cookie; with BROCKMAN_SET_ACTOR_COOKIE, mint one.

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
        minted = self.process_request(request)
        response = cast(HttpResponseBase, self.get_response(request))
        return self.process_response(request, response, minted)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        minted = self.process_request(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self.process_response(request, response, minted)

    def process_request(self, request: HttpRequest) -> str | None:
        """Set ``request.fl_actor_id``; return the id if it was minted for this request."""
        actor_id = actor_id_from_cookie(request)
        minted = None
        if actor_id is None and conf.SET_ACTOR_COOKIE:
            actor_id = minted = new_actor_id()
        request.fl_actor_id = actor_id  # type: ignore[attr-defined]
        return minted

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase, minted: str | None
    ) -> HttpResponseBase:
        if minted is not None and conf.ACTOR_COOKIE not in response.cookies:
            set_actor_cookie(response, request, minted)
            # A page that mints a visitor's id must not be cached and served to others
            # with the same Set-Cookie: Django's cache middleware skips such a response.
            patch_vary_headers(response, ("Cookie",))
        return response
