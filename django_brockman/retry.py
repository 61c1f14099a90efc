"""RetryPolicy: what the result of one delivery attempt means for the trigger."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
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

# A Retry-After further away than this is taken to mean this: a server's typo or a
# broken date must not park a trigger for years (or overflow a datetime).
MAX_RETRY_AFTER = timedelta(days=1)

# 2**64 times any sensible base is far beyond any cap; a larger exponent would overflow.
MAX_EXPONENT = 64


class Verdict(enum.Enum):
    """What an attempt's result means. Not a status: flushing.change_for() turns a verdict
    into the trigger's status change (ACCEPTED into sent, GIVE_UP into failed)."""

    # FocusLab accepted the trigger.
    ACCEPTED = "accepted"
    # Try again later.
    RETRY = "retry"
    # Never again: the trigger is bad, or its last attempt is spent.
    GIVE_UP = "give_up"
    # The configuration is wrong (API key, endpoint): stop the run, blame no trigger.
    STOP = "stop"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    retry_at: datetime | None = None
    error: str = ""
    # GIVE_UP because the last attempt is spent, not because the trigger is bad.
    out_of_attempts: bool = False


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Return the time a ``Retry-After`` header (seconds or HTTP-date) points to.

    None when there is no usable header; never past, and never more than
    MAX_RETRY_AFTER ahead. Whatever the header holds, this never raises: a date with
    a twenty-digit year, a year 1 east of UTC or a million digits is a server's data.
    """
    if not value:
        return None
    value = value.strip()
    latest = now + MAX_RETRY_AFTER
    if value.isascii() and value.isdigit():
        # Long digit strings are not parsed at all: int() refuses thousands of digits.
        seconds = int(value) if len(value) < 10 else 10**9
        return now + min(timedelta(seconds=seconds), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            # HTTP dates are always GMT; the obsolete asctime form just does not say so.
            when = when.replace(tzinfo=timezone.utc)
        # Compared in UTC: a date near year 1 or 9999 with an offset does not exist
        # there, and saying so raises OverflowError.
        when = when.astimezone(timezone.utc)
        if now.tzinfo is None:
            # USE_TZ = False: Django's naive local time.
            when = when.astimezone().replace(tzinfo=None)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(when, now), latest)


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
        exponent = min(max(attempts - 1, 0), MAX_EXPONENT)
        ceiling = min(self.cap, self.base * 2**exponent)
        return self.rng.uniform(0, ceiling)

    def decide(self, error: Exception | None, attempts: int, now: datetime) -> Outcome:
        """Judge an attempt: *error* is None on success, *attempts* counts this one.

        An exception that is not a FocusLabError (a bug in a backend) is retried like an
        outage: it says nothing against the trigger, but a trigger that always causes
        it still ends failed after the last attempt instead of blocking the queue.
        """
        if error is None:
            return Outcome(Verdict.ACCEPTED)
        if not isinstance(error, FocusLabError):
            return self.retry_later(attempts, now, f"{type(error).__name__}: {error}")
        reason = str(error)
        if self.stops(error):
            return Outcome(Verdict.STOP, error=reason)
        if not self.is_retryable(error):
            return Outcome(Verdict.GIVE_UP, error=reason)
        return self.retry_later(attempts, now, reason, error.retry_after)

    def retry_later(
        self, attempts: int, now: datetime, reason: str, retry_after: str | None = None
    ) -> Outcome:
        """Retry after a backoff, or never sooner than *retry_after*; fail after the last."""
        if attempts >= self.max_attempts:
            error = f"gave up after {attempts} attempts: {reason}"
            return Outcome(Verdict.GIVE_UP, error=error, out_of_attempts=True)
        retry_at = now + timedelta(seconds=self.backoff(attempts))
        not_before = parse_retry_after(retry_after, now)
        if not_before is not None and not_before > retry_at:
            retry_at = not_before
        return Outcome(Verdict.RETRY, retry_at=retry_at, error=reason)

    @staticmethod
    def stops(error: Exception | None) -> bool:
        """Whether *error* says the configuration is wrong (the key, the endpoint): no
        trigger of that destination can be delivered until it is fixed."""
        return isinstance(error, (BadAPIKey, ResourceNotFound))

    @staticmethod
    def is_retryable(error: FocusLabError) -> bool:
        """Whether the error says "later" rather than "this trigger is bad".

        Only a 4xx blames the trigger. Other unexpected statuses (a 200 or a redirect
        from a proxy in the way) prove nothing against it, so they are retried too.
        """
        if isinstance(error, NetworkError):
            return True
        status = error.status
        if status is None or status in RETRYABLE_STATUSES:
            return True
        return not 400 <= status < 500
