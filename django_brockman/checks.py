"""System checks for the BROCKMAN_* settings. Messages never show the API key."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from django_brockman.conf import conf

HTTP_BACKEND = "django_brockman.backends.http.HttpBackend"
MIDDLEWARE = "django_brockman.middleware.BrockmanMiddleware"
# A cookie name is an RFC 6265 token.
COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for check in CHECKS:
        errors.extend(check())
    return errors


def _uses_http_backend() -> bool:
    try:
        backend = import_string(conf.BACKEND)
    except ImportError:
        return False
    from django_brockman.backends.http import HttpBackend

    return isinstance(backend, type) and issubclass(backend, HttpBackend)


def check_api_key() -> list[CheckMessage]:
    value = getattr(settings, "BROCKMAN_API_KEY", None)
    if value is not None and not isinstance(value, str):
        return [
            Error(
                f"BROCKMAN_API_KEY must be a str, not {type(value).__name__}.",
                id="brockman.E002",
            )
        ]
    if not value and _uses_http_backend():
        return [
            Error(
                "BROCKMAN_API_KEY is missing or empty, so no trigger can be delivered.",
                hint="Set BROCKMAN_API_KEY to your FocusLab API key, e.g. from an environment "
                "variable.",
                id="brockman.E001",
            )
        ]
    return []


def check_endpoint() -> list[CheckMessage]:
    endpoint = conf.ENDPOINT
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        return [
            Error(
                f"BROCKMAN_ENDPOINT must be an http:// or https:// URL, not {endpoint!r}.",
                id="brockman.E003",
            )
        ]
    return []


def check_backend() -> list[CheckMessage]:
    try:
        import_string(conf.BACKEND)
    except ImportError as exc:
        return [
            Error(
                f"BROCKMAN_BACKEND {conf.BACKEND!r} cannot be imported: {exc}",
                id="brockman.E004",
            )
        ]
    return []


def _number(name: str, value: object, *, integer: bool) -> list[CheckMessage]:
    kinds: tuple[type[float], ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "a positive int" if integer else "a positive number"
        return [Error(f"BROCKMAN_{name} must be {kind}, not {value!r}.", id="brockman.E005")]
    return []


def check_numbers() -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name, integer in (
        ("TIMEOUT", False),
        ("BATCH_SIZE", True),
        ("CONCURRENCY", True),
        ("LEASE_SECONDS", False),
        ("MAX_ATTEMPTS", True),
        ("RETRY_BASE_SECONDS", False),
        ("RETRY_CAP_SECONDS", False),
        ("MAX_PAYLOAD_BYTES", True),
    ):
        errors.extend(_number(name, getattr(conf, name), integer=integer))
    return errors


def check_lease() -> list[CheckMessage]:
    lease, timeout = conf.LEASE_SECONDS, conf.TIMEOUT
    if check_numbers() or lease > timeout + 1:
        return []
    return [
        Error(
            f"BROCKMAN_LEASE_SECONDS ({lease}) must be longer than BROCKMAN_TIMEOUT ({timeout}) "
            "plus one second, or no trigger could be sent before its lease ends.",
            id="brockman.E006",
        )
    ]


def check_actor_cookie() -> list[CheckMessage]:
    name = conf.ACTOR_COOKIE
    if not isinstance(name, str) or not COOKIE_NAME.fullmatch(name):
        return [
            Error(
                f"BROCKMAN_ACTOR_COOKIE must be a cookie name, not {name!r}.",
                hint="The browser script's cookie is 'fl_actor_id'.",
                id="brockman.E010",
            )
        ]
    return []


def _callable_path(name: str, value: object, error_id: str) -> list[CheckMessage]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [
            Error(
                f"BROCKMAN_{name} must be a dotted path to a callable or None, not "
                f"{type(value).__name__}.",
                id=error_id,
            )
        ]
    try:
        function = import_string(value)
    except ImportError as exc:
        return [Error(f"BROCKMAN_{name} {value!r} cannot be imported: {exc}", id=error_id)]
    if not callable(function):
        return [Error(f"BROCKMAN_{name} {value!r} is not callable.", id=error_id)]
    return []


def check_identities() -> list[CheckMessage]:
    return _callable_path("IDENTITIES", conf.IDENTITIES, "brockman.E011")


def check_consent() -> list[CheckMessage]:
    return _callable_path("CONSENT", conf.CONSENT, "brockman.E012")


def check_switches() -> list[CheckMessage]:
    return [
        Error(f"BROCKMAN_{name} must be True or False, not {value!r}.", id="brockman.E013")
        for name, value in (
            ("ENABLED", conf.ENABLED),
            ("SET_ACTOR_COOKIE", conf.SET_ACTOR_COOKIE),
        )
        if not isinstance(value, bool)
    ]


def check_auth_hooks() -> list[CheckMessage]:
    from django_brockman.auth_hooks import AUTH_SIGNALS

    value = conf.AUTH_HOOKS
    if isinstance(value, bool):
        return []
    if isinstance(value, (list, tuple, set, frozenset)) and all(
        name in AUTH_SIGNALS for name in value
    ):
        return []
    return [
        Error(
            f"BROCKMAN_AUTH_HOOKS must be True, False or a list of signal names, not {value!r}.",
            hint=f"The names are {', '.join(AUTH_SIGNALS)}.",
            id="brockman.E014",
        )
    ]


def check_cookie_middleware() -> list[CheckMessage]:
    if conf.SET_ACTOR_COOKIE is True and MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            Warning(
                "BROCKMAN_SET_ACTOR_COOKIE is on, but no cookie is set without "
                "BrockmanMiddleware.",
                hint=f"Add {MIDDLEWARE!r} to MIDDLEWARE.",
                id="brockman.W010",
            )
        ]
    return []


def check_task_settings() -> list[CheckMessage]:
    """The bounds of one flush run by a task (django_brockman.tasks)."""
    errors: list[CheckMessage] = []
    limit = conf.TASK_LIMIT
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        errors.append(
            Error(
                f"BROCKMAN_TASK_LIMIT must be a positive int or None, not {limit!r}.",
                id="brockman.E030",
            )
        )
    seconds = conf.TASK_MAX_SECONDS
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        errors.append(
            Error(
                f"BROCKMAN_TASK_MAX_SECONDS must be a positive number, not {seconds!r}.",
                hint="A task's flush must end on its own so that it does not hold a worker.",
                id="brockman.E031",
            )
        )
    return errors


def check_destinations() -> list[CheckMessage]:
    """BROCKMAN_DESTINATIONS: a dict like DATABASES, with a "default" entry."""
    from django_brockman.destinations import DEFAULT, NAME, OPTIONS

    value = conf.DESTINATIONS
    if value is None:
        return []
    if not isinstance(value, dict) or DEFAULT not in value:
        return [
            Error(
                f"BROCKMAN_DESTINATIONS must be a dict of destinations that includes {DEFAULT!r}.",
                hint='For example {"default": {"API_KEY": ..., "ENDPOINT": ...}, "eu": {...}}.',
                id="brockman.E050",
            )
        ]
    errors: list[CheckMessage] = []
    for name, options in value.items():
        if not isinstance(name, str) or not NAME.fullmatch(name):
            errors.append(
                Error(
                    f"BROCKMAN_DESTINATIONS has the name {name!r}; a destination's name is 1 "
                    "to 64 letters, digits, '_' or '-'.",
                    id="brockman.E051",
                )
            )
        elif not isinstance(options, dict) or set(options) - set(OPTIONS):
            errors.append(
                Error(
                    f"BROCKMAN_DESTINATIONS[{name!r}] must be a dict with keys among "
                    f"{', '.join(OPTIONS)}.",
                    id="brockman.E052",
                )
            )
    return errors


CHECKS: list[Callable[[], list[CheckMessage]]] = [
    check_api_key,
    check_endpoint,
    check_backend,
    check_numbers,
    check_lease,
    check_actor_cookie,
    check_identities,
    check_consent,
    check_switches,
    check_auth_hooks,
    check_cookie_middleware,
    check_task_settings,
    check_destinations,
]
