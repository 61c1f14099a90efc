"""Every BROCKMAN_* setting, read from django.conf.settings each time it is used."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from django.conf import settings

DEFAULT_ENDPOINT = "https://api.focuslab.io/api/v1/"
DEFAULT_BACKEND = "django_brockman.backends.http.HttpBackend"
DEFAULT_ACTOR_COOKIE = "fl_actor_id"
DEFAULT_IDENTITIES = "django_brockman.identities.user_identities"


class Settings:
    """Typed access to the BROCKMAN_* settings, with their defaults.

    Nothing is cached, so ``override_settings`` takes effect at once.
    """

    @property
    def API_KEY(self) -> str:
        return getattr(settings, "BROCKMAN_API_KEY", "") or ""

    @property
    def ENDPOINT(self) -> str:
        return getattr(settings, "BROCKMAN_ENDPOINT", DEFAULT_ENDPOINT)

    @property
    def DESTINATIONS(self) -> Mapping[str, Mapping[str, object]] | None:
        return getattr(settings, "BROCKMAN_DESTINATIONS", None)

    @property
    def TIMEOUT(self) -> float:
        return getattr(settings, "BROCKMAN_TIMEOUT", 10.0)

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
    def SET_ACTOR_COOKIE(self) -> bool:
        return getattr(settings, "BROCKMAN_SET_ACTOR_COOKIE", False)

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


conf = Settings()
