"""RetryPolicy: what the result of one delivery attempt means for the trigger."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django_brockman.conf import conf
from django_brockman.exceptions import (
    BadAPIKey,
    FocusLabError,
    NetworkError,
    ResourceNotFound,
)

# Statuses that say "try again later" rather than "this trigger is bad".
RETRYABLE_STATUSES = frozenset({408, 425, 429})


class Verdict(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    # The configuration is wrong (API key, endpoint): stop the run, blame no trigger.
    STOP = "stop"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    retry_at: datetime | None = None
    error: str = ""


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Return the time a ``Retry-After`` header (seconds or HTTP-date) points to."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(when, now)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped, honouring Retry-After."""

    base: float
    cap: float
    max_attempts: int
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            base=conf.RETRY_BASE_SECONDS,
            cap=conf.RETRY_CAP_SECONDS,
            max_attempts=conf.MAX_ATTEMPTS,
        )

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after the *attempts*-th failed attempt (1-based)."""
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        return self.rng.uniform(0, ceiling)

    def decide(self, error: FocusLabError | None, attempts: int, now: datetime) -> Outcome:
        """Judge an attempt: *error* is None on success, *attempts* counts this one."""
        if error is None:
            return Outcome(Verdict.SENT)
        reason = str(error)
        if isinstance(error, (BadAPIKey, ResourceNotFound)):
            return Outcome(Verdict.STOP, error=reason)
        if not self.is_retryable(error):
            return Outcome(Verdict.FAILED, error=reason)
        if attempts >= self.max_attempts:
            return Outcome(Verdict.FAILED, error=f"gave up after {attempts} attempts: {reason}")
        retry_at = now + timedelta(seconds=self.backoff(attempts))
        not_before = parse_retry_after(error.retry_after, now)
        if not_before is not None and not_before > retry_at:
            retry_at = not_before
        return Outcome(Verdict.RETRY, retry_at=retry_at, error=reason)

    @staticmethod
    def is_retryable(error: FocusLabError) -> bool:
        if isinstance(error, NetworkError):
            return True
        status = error.status
        return status is not None and (status >= 500 or status in RETRYABLE_STATUSES)
