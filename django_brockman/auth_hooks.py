"""The built-in hooks for Django's auth signals, turned on by BROCKMAN_AUTH_HOOKS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import signals as auth_signals
from django.http import HttpRequest

from django_brockman.conf import conf
from django_brockman.hooks import Hook, trigger_on
from django_brockman.identities import identities_of

AUTH_SIGNALS = ("user_logged_in", "user_logged_out", "user_login_failed")


def auth_hook_enabled(name: str) -> bool:
    setting = conf.AUTH_HOOKS
    if isinstance(setting, bool):
        return setting
    return name in setting


def _actor_of(request: HttpRequest | None) -> str | None:
    return getattr(request, "fl_actor_id", None)


def _signed_in_actor(
    user: Any, request: HttpRequest | None = None, **kwargs: Any
) -> str | int | None:
    # The browser's actor, when known, so the visits before signing in join the user.
    return _actor_of(request) or user.pk


def _user_identities(user: Any, **kwargs: Any) -> dict[str, Any]:
    return identities_of(user)


def _logged_in_or_out(name: str) -> Callable[..., bool]:
    def when(user: Any = None, **kwargs: Any) -> bool:
        return user is not None and auth_hook_enabled(name)

    return when


def _login_failed(request: HttpRequest | None = None, **kwargs: Any) -> bool:
    # The credentials are never recorded; without a browser actor nobody can be named.
    return _actor_of(request) is not None and auth_hook_enabled("user_login_failed")


def connect_auth_hooks() -> list[Hook]:
    """Connect the hooks for login, logout and failed login.

    They are always connected and ask BROCKMAN_AUTH_HOOKS when they fire, so the
    setting is read when used and ``override_settings`` works.
    """
    return [
        trigger_on(
            auth_signals.user_logged_in,
            action="logged in",
            obj="account",
            actor_id=_signed_in_actor,
            identities=_user_identities,
            when=_logged_in_or_out("user_logged_in"),
            dispatch_uid="django_brockman:auth:user_logged_in",
        ),
        trigger_on(
            auth_signals.user_logged_out,
            action="logged out",
            obj="account",
            actor_id=_signed_in_actor,
            identities=_user_identities,
            when=_logged_in_or_out("user_logged_out"),
            dispatch_uid="django_brockman:auth:user_logged_out",
        ),
        trigger_on(
            auth_signals.user_login_failed,
            action="failed to log in",
            obj="account",
            when=_login_failed,
            dispatch_uid="django_brockman:auth:user_login_failed",
        ),
    ]
