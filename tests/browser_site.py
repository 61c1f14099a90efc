"""The site the browser test visits: pages that record a trigger for the cookie's actor."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path

from django_brockman import record_trigger


def page(request: HttpRequest, name: str) -> HttpResponse:
    # No actor_id: the middleware's cookie names the visitor, or mints the id.
    trigger = record_trigger(request, "viewed", name)
    assert trigger is not None
    return HttpResponse(f"<!doctype html><title>{name}</title><p id='uuid'>{trigger.uuid}</p>")


def quiet(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<!doctype html><title>quiet</title><p>Nothing recorded here.</p>")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("pages/quiet/", quiet),
    path("pages/<slug:name>/", page),
]
