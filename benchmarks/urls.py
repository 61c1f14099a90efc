"""One trivial view, for timing the middleware through Django's handler."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import path


def page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("", page), path("admin/", admin.site.urls)]
