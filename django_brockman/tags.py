"""The functions behind the template tags: record from a template, show the actor id."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import Context

from django_brockman.payload import TriggerArgs
from django_brockman.safe_recording import contained, record_in_savepoint

logger = logging.getLogger("django_brockman.capture")


def request_of(context: Context, tag: str) -> HttpRequest | None:
    """The context's request; a clear error under DEBUG when it is missing."""
    # A RequestContext carries the request even without the request context processor.
    request = getattr(context, "request", None) or context.get("request")
    if isinstance(request, HttpRequest):
        return request
    message = (
        f"{{% {tag} %}} needs the request in the template context: render the template "
        "with render(request, ...) or a RequestContext, or put the request in the "
        "context as 'request'."
    )
    if settings.DEBUG:
        raise ImproperlyConfigured(message)
    logger.warning(message)
    return None


def record_from_template(context: Context, args: TriggerArgs) -> str:
    """Record a trigger for the context's request; render nothing."""
    request = request_of(context, "record_trigger")
    if request is not None:
        with contained("the {% record_trigger %} template tag"):
            record_in_savepoint(request, args)
    return ""


def actor_id_of(context: Context) -> str:
    """The context's ``request.fl_actor_id``, or an empty string."""
    request = request_of(context, "brockman_actor_id")
    actor_id = getattr(request, "fl_actor_id", None)
    return str(actor_id) if actor_id is not None else ""
