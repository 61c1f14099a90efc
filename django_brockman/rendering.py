"""The functions behind the template tags: record from a template, show the actor id."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.template import Context

from django_brockman.destinations import DEFAULT
from django_brockman.guard import contained, record_in_savepoint

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


def record_from_template(
    context: Context,
    action: str,
    obj: str,
    *,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    variables: Mapping[str, Any] | None = None,
    destination: str = DEFAULT,
) -> str:
    """Record a trigger for the context's request; render nothing."""
    request = request_of(context, "record_trigger")
    if request is not None:
        with contained("the {% record_trigger %} template tag"):
            record_in_savepoint(
                request,
                action,
                obj,
                identities=identities,
                attributes=attributes,
                variables=variables,
                destination=destination,
            )
    return ""


def actor_id_of(context: Context) -> str:
    """The context's ``request.fl_actor_id``, or an empty string."""
    request = request_of(context, "brockman_actor_id")
    actor_id = getattr(request, "fl_actor_id", None)
    return str(actor_id) if actor_id is not None else ""
