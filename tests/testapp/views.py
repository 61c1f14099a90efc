"""Views the tests request, to record triggers the way users do."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
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
