"""Views the tests request, to record triggers the way users do."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from django_brockman import arecord_trigger, record_trigger


def record_view(request: HttpRequest) -> HttpResponse:
    trigger = record_trigger(request, "viewed", "page", actor_id="actor-1")
    assert trigger is not None
    return HttpResponse(str(trigger.uuid))


class Boom(Exception):
    pass


@transaction.non_atomic_requests
def record_then_fail_view(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        record_trigger(request, "viewed", "page", actor_id="actor-1")
        raise Boom("the view failed after recording")


def actor_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"actor_id": getattr(request, "fl_actor_id", "unset")})


async def async_actor_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"actor_id": getattr(request, "fl_actor_id", "unset")})


async def async_record_view(request: HttpRequest) -> HttpResponse:
    trigger = await arecord_trigger(request, "viewed", "async page", variables={"n": 1})
    return JsonResponse({"uuid": str(trigger.uuid) if trigger else None})


def tagged_page_view(request: HttpRequest) -> HttpResponse:
    return render(request, "tagged_page.html", {"title": request.GET.get("title", "")})


def visit_view(request: HttpRequest) -> HttpResponse:
    """Record a page view for the visitor, as a first-time visitor's page would."""
    trigger = record_trigger(request, "viewed", "page")
    return JsonResponse(
        {
            "recorded": trigger.actor_id if trigger else None,
            "fl_actor_id": getattr(request, "fl_actor_id", "unset"),
        }
    )


def visit_twice_view(request: HttpRequest) -> HttpResponse:
    first = record_trigger(request, "viewed", "page")
    second = record_trigger(request, "clicked", "button")
    return JsonResponse({"recorded": [t.actor_id if t else None for t in (first, second)]})


async def async_visit_view(request: HttpRequest) -> HttpResponse:
    trigger = await arecord_trigger(request, "viewed", "async page")
    return JsonResponse({"recorded": trigger.actor_id if trigger else None})


def streaming_visit_view(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[str]:
        # Runs after the middleware handed the response on: too late to set a cookie.
        trigger = record_trigger(request, "streamed", "page")
        yield json.dumps({"recorded": trigger.actor_id if trigger else None})

    return StreamingHttpResponse(body())
