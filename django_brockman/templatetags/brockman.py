"""Template tags: ``{% record_trigger %}`` and ``{% brockman_actor_id %}``."""

from __future__ import annotations

from typing import Any

from django import template
from django.template import Context

from django_brockman import tags
from django_brockman.destinations import DEFAULT
from django_brockman.payload import JSONMapping, TriggerArgs

register = template.Library()


@register.simple_tag(takes_context=True, name="record_trigger")
def record_trigger_tag(
    context: Context,
    action: str,
    obj: str,
    *,
    identities: JSONMapping | None = None,
    attributes: JSONMapping | None = None,
    destination: str = DEFAULT,
    **variables: Any,
) -> str:
    return tags.record_from_template(
        context,
        TriggerArgs(action, obj, identities, attributes, variables, destination=destination),
    )


@register.simple_tag(takes_context=True)
def brockman_actor_id(context: Context) -> str:
    return tags.actor_id_of(context)
