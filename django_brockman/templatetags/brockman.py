"""Template tags: ``{% record_trigger %}`` and ``{% brockman_actor_id %}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.template import Context

from django_brockman import rendering
from django_brockman.destinations import DEFAULT

register = template.Library()


@register.simple_tag(takes_context=True, name="record_trigger")
def record_trigger_tag(
    context: Context,
    action: str,
    obj: str,
    *,
    identities: Mapping[str, Any] | None = None,
    attributes: Mapping[str, Any] | None = None,
    destination: str = DEFAULT,
    **variables: Any,
) -> str:
    return rendering.record_from_template(
        context,
        action,
        obj,
        identities=identities,
        attributes=attributes,
        variables=variables,
        destination=destination,
    )


@register.simple_tag(takes_context=True)
def brockman_actor_id(context: Context) -> str:
    return rendering.actor_id_of(context)
