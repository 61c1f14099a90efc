"""Views the tests request, to record triggers the way users do."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse

from django_brockman import record_trigger


def record_view(request: HttpRequest) -> HttpResponse:
    trigger = record_trigger(request, "viewed", "page", actor_id="actor-1")
    return HttpResponse(str(trigger.uuid))


class Boom(Exception):
    pass


@transaction.non_atomic_requests
def record_then_fail_view(request: HttpRequest) -> HttpResponse:
    with transaction.atomic():
        record_trigger(request, "viewed", "page", actor_id="actor-1")
        raise Boom("the view failed after recording")
