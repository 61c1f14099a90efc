"""Every BROCKMAN_* setting, read from django.conf.settings each time it is used."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from django.conf import settings

from django_brockman.defaults import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, is_http_url

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "api_key_problem",
    "conf",
    "endpoint_problem",
    "lease_problem",
    "number_problem",
    "send_margin",
]

DEFAULT_BACKEND = "django_brockman.backends.http.HttpBackend"
DEFAULT_ACTOR_COOKIE = "fl_actor_id"
DEFAULT_IDENTITIES = "django_brockman.identities.user_identities"
#: BROCKMAN_SET_ACTOR_COOKIE's default: mint an actor id only when a trigger needs one.
WHEN_NEEDED = "when-needed"
# The reference client's Django settings (brockman.django), honoured when the
# BROCKMAN_* setting is absent; brockman.W040 asks to rename them.
LEGACY_SETTINGS = {"API_KEY": "FL_API_KEY", "ENDPOINT": "FL_ENDPOINT"}
# Retention, applied by the flusher (retention.py); None keeps rows for ever.
DEFAULT_KEEP_SENT_DAYS = 7
DEFAULT_KEEP_FAILED_DAYS = 30


class Settings:
    """Typed access to the BROCKMAN_* settings, with their defaults.

    Nothing is cached, so ``override_settings`` takes effect at once.
    """

    @property
    def API_KEY(self) -> str:
        return getattr(settings, self.setting_name("API_KEY"), "") or ""

    @property
    def ENDPOINT(self) -> str:
        return getattr(settings, self.setting_name("ENDPOINT"), DEFAULT_ENDPOINT)

    @staticmethod
    def setting_name(name: str) -> str:
        """The name of the setting that gives *name* its value: ``BROCKMAN_<name>``, or
        the reference client's (``FL_API_KEY``) when only that one is set."""
        legacy = LEGACY_SETTINGS.get(name)
        if legacy and not hasattr(settings, f"BROCKMAN_{name}") and hasattr(settings, legacy):
            return legacy
        return f"BROCKMAN_{name}"

    @property
    def DESTINATIONS(self) -> Mapping[str, Mapping[str, object]] | None:
        return getattr(settings, "BROCKMAN_DESTINATIONS", None)

    @property
    def TIMEOUT(self) -> float:
        return getattr(settings, "BROCKMAN_TIMEOUT", DEFAULT_TIMEOUT)

    @property
    def BACKEND(self) -> str:
        return getattr(settings, "BROCKMAN_BACKEND", DEFAULT_BACKEND)

    @property
    def BATCH_SIZE(self) -> int:
        return getattr(settings, "BROCKMAN_BATCH_SIZE", 100)

    @property
    def CONCURRENCY(self) -> int:
        return getattr(settings, "BROCKMAN_CONCURRENCY", 4)

    @property
    def LEASE_SECONDS(self) -> float:
        return getattr(settings, "BROCKMAN_LEASE_SECONDS", 300.0)

    @property
    def MAX_ATTEMPTS(self) -> int:
        return getattr(settings, "BROCKMAN_MAX_ATTEMPTS", 15)

    @property
    def RETRY_BASE_SECONDS(self) -> float:
        return getattr(settings, "BROCKMAN_RETRY_BASE_SECONDS", 5.0)

    @property
    def RETRY_CAP_SECONDS(self) -> float:
        return getattr(settings, "BROCKMAN_RETRY_CAP_SECONDS", 3600.0)

    @property
    def MAX_PAYLOAD_BYTES(self) -> int:
        return getattr(settings, "BROCKMAN_MAX_PAYLOAD_BYTES", 32 * 1024)

    @property
    def ENABLED(self) -> bool:
        return getattr(settings, "BROCKMAN_ENABLED", True)

    @property
    def ACTOR_COOKIE(self) -> str:
        return getattr(settings, "BROCKMAN_ACTOR_COOKIE", DEFAULT_ACTOR_COOKIE)

    @property
    def SET_ACTOR_COOKIE(self) -> bool | str:
        """``"when-needed"``, ``True`` (every request) or ``False`` (never)."""
        return getattr(settings, "BROCKMAN_SET_ACTOR_COOKIE", WHEN_NEEDED)

    @property
    def IDENTITIES(self) -> str | None:
        return getattr(settings, "BROCKMAN_IDENTITIES", DEFAULT_IDENTITIES)

    @property
    def CONSENT(self) -> str | None:
        return getattr(settings, "BROCKMAN_CONSENT", None)

    @property
    def AUTH_HOOKS(self) -> bool | Collection[str]:
        return getattr(settings, "BROCKMAN_AUTH_HOOKS", False)

    @property
    def TASK_LIMIT(self) -> int | None:
        return getattr(settings, "BROCKMAN_TASK_LIMIT", None)

    @property
    def TASK_MAX_SECONDS(self) -> float:
        return getattr(settings, "BROCKMAN_TASK_MAX_SECONDS", 50.0)

    @property
    def KEEP_SENT_DAYS(self) -> float | None:
        return getattr(settings, "BROCKMAN_KEEP_SENT_DAYS", DEFAULT_KEEP_SENT_DAYS)

    @property
    def KEEP_FAILED_DAYS(self) -> float | None:
        return getattr(settings, "BROCKMAN_KEEP_FAILED_DAYS", DEFAULT_KEEP_FAILED_DAYS)

    @property
    def DELIVER_ON_COMMIT(self) -> bool:
        return getattr(settings, "BROCKMAN_DELIVER_ON_COMMIT", False)


conf = Settings()


def send_margin(timeout: float) -> float:
    """How long before its lease ends a flusher may still start a request: the longest a
    request may take (*timeout*), plus a second for the write-back."""
    return timeout + 1.0


def lease_problem(
    lease_seconds: float, timeout: float, setting: str = "BROCKMAN_TIMEOUT"
) -> str | None:
    """Why a lease of *lease_seconds* cannot work with requests of up to *timeout* seconds
    (the value of *setting*); None when it can. Every trigger would be released unsent
    and claimed again, for ever."""
    if lease_seconds > send_margin(timeout):
        return None
    return (
        f"BROCKMAN_LEASE_SECONDS ({lease_seconds}) must be longer than {setting} "
        f"({timeout}) plus one second, or no trigger could be sent before its lease ends."
    )


def endpoint_problem(endpoint: object, setting: str | None = None) -> str | None:
    """What is wrong with *endpoint*, the value of *setting* (BROCKMAN_ENDPOINT by
    default); None when nothing is."""
    if is_http_url(endpoint):
        return None
    name = setting or Settings.setting_name("ENDPOINT")
    return f"{name} must be an http:// or https:// URL, not {endpoint!r}."


def number_problem(setting: str, value: object, *, integer: bool = False) -> str | None:
    """What is wrong with *value* as the positive number *setting* must be; None when
    nothing is."""
    kinds: tuple[type[float], ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
        kind = "a positive int" if integer else "a positive number"
        return f"{setting} must be {kind}, not {value!r}."
    return None


def api_key_problem(value: object, setting: str) -> str | None:
    """What is wrong with *value* as the API key *setting*; None when nothing is. The
    message never shows the key."""
    if not isinstance(value, str):
        return f"{setting} must be a str, not {type(value).__name__}."
    if not value:
        return f"{setting} is not set, so no trigger can be delivered; they wait in the outbox."
    return None
