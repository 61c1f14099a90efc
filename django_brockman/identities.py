"""The identities recorded with every trigger that has a request: BROCKMAN_IDENTITIES."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest

from django_brockman.callables import call
from django_brockman.conf import conf

IdentitiesFunction = Callable[[HttpRequest], Mapping[str, Any]]


def user_identities(request: HttpRequest) -> dict[str, Any]:
    """The default: the signed-in user's ``user_id`` and, when set, ``email``."""
    return identities_of(getattr(request, "user", None))


def identities_of(user: Any) -> dict[str, Any]:
    """``user_id`` and ``email`` of *user*; nothing for an anonymous user or None."""
    if user is None or not user.is_authenticated:
        return {}
    pk = user.pk
    found: dict[str, Any] = {"user_id": pk if isinstance(pk, (int, str)) else str(pk)}
    email_field = user.get_email_field_name() if hasattr(user, "get_email_field_name") else None
    email = getattr(user, email_field, None) if email_field else None
    if email:
        found["email"] = str(email)
    return found


def request_identities(
    request: HttpRequest | None, explicit: Mapping[str, Any] | None = None
) -> Mapping[str, Any] | None:
    """BROCKMAN_IDENTITIES' identities for *request*, with *explicit* merged over them.

    A callable that raises in production raises CallableFailed (its error is logged):
    the trigger is not recorded without the identities the site wants on it.
    """
    path = conf.IDENTITIES
    if request is None or path is None:
        return explicit
    found: Mapping[str, Any] | None = call("BROCKMAN_IDENTITIES", path, request)
    if not found:
        return explicit
    if explicit is None:
        return found
    if not isinstance(explicit, Mapping):
        return explicit  # left for validation to refuse, by name
    return {**found, **explicit}
