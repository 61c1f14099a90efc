"""System checks for the BROCKMAN_* settings. Messages never show the API key."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import router
from django.utils.module_loading import import_string

from django_brockman.actor import MIDDLEWARE_PATH as MIDDLEWARE
from django_brockman.conf import (
    LEGACY_SETTINGS,
    WHEN_NEEDED,
    api_key_problem,
    conf,
    endpoint_problem,
    lease_problem,
    number_problem,
)

# A cookie name is an RFC 6265 token.
COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for check in CHECKS:
        errors.extend(check())
    return errors


def check_deploy_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Checks for ``manage.py check --deploy`` only: what development can do without."""
    errors: list[CheckMessage] = []
    for check in DEPLOY_CHECKS:
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
    value = conf.API_KEY
    if not isinstance(value, str):
        return [
            Error(
                f"{conf.setting_name('API_KEY')} must be a str, not {type(value).__name__}.",
                id="brockman.E002",
            )
        ]
    return []


def check_api_key_present() -> list[CheckMessage]:
    """A deploy check: without a key a developer can still migrate, run the server and
    the tests; the flusher refuses to deliver with the same advice."""
    from django_brockman.backends.http import MISSING_API_KEY_HINT

    value = getattr(settings, "BROCKMAN_API_KEY", None)
    if not value and _uses_http_backend():
        return [
            Error(
                "BROCKMAN_API_KEY is missing or empty, so no trigger can be delivered.",
                hint=MISSING_API_KEY_HINT,
                id="brockman.E001",
            )
        ]
    return []


def check_endpoint() -> list[CheckMessage]:
    problem = endpoint_problem(conf.ENDPOINT)
    return [Error(problem, id="brockman.E003")] if problem else []


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
    problem = number_problem(f"BROCKMAN_{name}", value, integer=integer)
    return [Error(problem, id="brockman.E005")] if problem else []


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
    if check_numbers():
        return []
    problem = lease_problem(conf.LEASE_SECONDS, conf.TIMEOUT)
    return [Error(problem, id="brockman.E006")] if problem else []


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
    value = conf.ENABLED
    if isinstance(value, bool):
        return []
    return [Error(f"BROCKMAN_ENABLED must be True or False, not {value!r}.", id="brockman.E013")]


def check_set_actor_cookie() -> list[CheckMessage]:
    value = conf.SET_ACTOR_COOKIE
    if value is True or value is False or value == WHEN_NEEDED:
        return []
    return [
        Error(
            f"BROCKMAN_SET_ACTOR_COOKIE must be {WHEN_NEEDED!r}, True or False, not {value!r}.",
            hint=f"{WHEN_NEEDED!r} (the default) mints an actor id when a trigger needs one, "
            "True on every request without a usable cookie, False never.",
            id="brockman.E015",
        )
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
    # Only when the setting asks for minting: a site that records with explicit actor
    # ids needs no middleware, and gets a warning at run time if a visitor has no actor.
    asked = getattr(settings, "BROCKMAN_SET_ACTOR_COOKIE", False)
    if (asked is True or asked == WHEN_NEEDED) and MIDDLEWARE not in settings.MIDDLEWARE:
        return [
            Warning(
                f"BROCKMAN_SET_ACTOR_COOKIE is {asked!r}, but no cookie is minted without "
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


def _destination_options() -> dict[str, dict[str, object]]:
    """BROCKMAN_DESTINATIONS' entries when its shape is right (E050 to E052 pass)."""
    if conf.DESTINATIONS is None or check_destinations():
        return {}
    return {name: dict(options) for name, options in conf.DESTINATIONS.items()}


def check_destination_settings() -> list[CheckMessage]:
    """What each destination sets itself, by the rules of the single settings it
    replaces; what it leaves out is checked as that setting."""
    from django_brockman.destinations import setting_name

    errors: list[CheckMessage] = []
    for name, options in _destination_options().items():
        if "ENDPOINT" in options:
            problem = endpoint_problem(options["ENDPOINT"], setting_name(name, "ENDPOINT"))
            if problem:
                errors.append(Error(problem, id="brockman.E053"))
        if "TIMEOUT" in options:
            setting = setting_name(name, "TIMEOUT")
            timeout = options["TIMEOUT"]
            problem = number_problem(setting, timeout)
            if not problem and not check_numbers():
                problem = lease_problem(conf.LEASE_SECONDS, timeout, setting)  # type: ignore[arg-type]
            if problem:
                errors.append(Error(problem, id="brockman.E054"))
        if "BACKEND" in options:
            backend = options["BACKEND"]
            try:
                import_string(backend)  # type: ignore[arg-type]
            except ImportError as exc:
                errors.append(
                    Error(
                        f"{setting_name(name, 'BACKEND')} {backend!r} cannot be imported: {exc}",
                        id="brockman.E055",
                    )
                )
        key = options.get("API_KEY", "")
        # An empty key is brockman.E057's, a deploy check.
        problem = (
            None if isinstance(key, str) else api_key_problem(key, setting_name(name, "API_KEY"))
        )
        if problem:
            errors.append(Error(problem, id="brockman.E056"))
    return errors


def check_destination_keys_present() -> list[CheckMessage]:
    """A deploy check, like brockman.E001: every destination delivered over HTTP has a
    key. Only "default" falls back to BROCKMAN_API_KEY."""
    from django_brockman.backends.http import HttpBackend
    from django_brockman.destinations import setting_name

    errors: list[CheckMessage] = []
    for name, options in _destination_options().items():
        if name == "default" and "API_KEY" not in options:
            continue  # brockman.E001's
        backend = options.get("BACKEND", conf.BACKEND)
        try:
            klass = import_string(backend)  # type: ignore[arg-type]
        except ImportError:
            continue  # brockman.E004's or E055's
        if not (isinstance(klass, type) and issubclass(klass, HttpBackend)):
            continue
        key = options.get("API_KEY", "")
        problem = api_key_problem(key, setting_name(name, "API_KEY"))
        if problem and isinstance(key, str):  # not a str: brockman.E056's
            errors.append(
                Error(
                    problem,
                    hint="Only 'default' falls back to BROCKMAN_API_KEY; give each other "
                    "destination its own project's key.",
                    id="brockman.E057",
                )
            )
    return errors


def check_deliver_on_commit() -> list[CheckMessage]:
    value = conf.DELIVER_ON_COMMIT
    if not isinstance(value, bool):
        return [
            Error(
                f"BROCKMAN_DELIVER_ON_COMMIT must be True or False, not {value!r}.",
                id="brockman.E060",
            )
        ]
    if value and not settings.DEBUG:
        return [
            Warning(
                "BROCKMAN_DELIVER_ON_COMMIT is True with DEBUG = False: every request that "
                "records a trigger then waits on FocusLab after its transaction commits.",
                hint="It is meant for development. In production leave it False and run "
                "brockman_flush from cron, a worker or a task.",
                id="brockman.W060",
            )
        ]
    return []


def check_legacy_settings() -> list[CheckMessage]:
    """The reference client's FL_API_KEY and FL_ENDPOINT: used, but to be renamed."""
    messages: list[CheckMessage] = []
    for name, legacy in LEGACY_SETTINGS.items():
        if not hasattr(settings, legacy):
            continue
        if conf.setting_name(name) == legacy:
            messages.append(
                Warning(
                    f"{legacy} is the setting of brockman's Django client; it is used because "
                    f"BROCKMAN_{name} is not set.",
                    hint=f"Rename it to BROCKMAN_{name}.",
                    id="brockman.W040",
                )
            )
        else:
            messages.append(
                Warning(
                    f"{legacy} is ignored: BROCKMAN_{name} is set.",
                    hint=f"Remove {legacy} from the settings.",
                    id="brockman.W041",
                )
            )
    return messages


def check_retention() -> list[CheckMessage]:
    from django_brockman.retention import MAX_DAYS

    return [
        Error(
            f"BROCKMAN_{name} must be a number of days above 0 and at most {MAX_DAYS}, "
            f"or None to keep them for ever, not {value!r}.",
            id="brockman.E040",
        )
        for name, value in (
            ("KEEP_SENT_DAYS", conf.KEEP_SENT_DAYS),
            ("KEEP_FAILED_DAYS", conf.KEEP_FAILED_DAYS),
        )
        if value is not None
        and (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not 0 < value <= MAX_DAYS  # also refuses nan
        )
    ]


def check_sqlite_transaction_mode(
    databases: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[CheckMessage]:
    """On SQLite, the outbox's database should begin its transactions IMMEDIATE."""
    from django_brockman.models import Trigger

    alias = router.db_for_write(Trigger)
    config = (settings.DATABASES if databases is None else databases).get(alias, {})
    if not str(config.get("ENGINE", "")).endswith(("sqlite3", "spatialite")):
        return []
    options = config.get("OPTIONS") or {}
    mode = options.get("transaction_mode") if isinstance(options, Mapping) else None
    if isinstance(mode, str) and mode.upper() in ("IMMEDIATE", "EXCLUSIVE"):
        return []
    return [
        Warning(
            f"The SQLite database {alias!r}, which holds the outbox, begins its "
            "transactions DEFERRED.",
            hint=f'Add "OPTIONS": {{"transaction_mode": "IMMEDIATE"}} to DATABASES[{alias!r}]. '
            "A DEFERRED transaction that reads and then writes (ATOMIC_REQUESTS, a view's "
            "atomic() block) cannot wait for a writer that got in between: it fails at "
            "once with 'database is locked', whatever the timeout, and a flusher's writes "
            "make that happen to your site's requests. IMMEDIATE takes the write lock "
            "when the transaction begins, so requests and flushers wait their turn.",
            id="brockman.W020",
        )
    ]


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
    check_set_actor_cookie,
    check_auth_hooks,
    check_cookie_middleware,
    check_task_settings,
    check_destinations,
    check_destination_settings,
    check_deliver_on_commit,
    check_legacy_settings,
    check_retention,
    check_sqlite_transaction_mode,
]

DEPLOY_CHECKS: list[Callable[[], list[CheckMessage]]] = [
    check_api_key_present,
    check_destination_keys_present,
]
