"""The flush loop's small pieces: its options, when to stop, when to claim more, which
claims are answered, when to write back, and what each attempt's outcome means."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

from django_brockman import transitions
from django_brockman.clock import Clock
from django_brockman.conf import conf, lease_problem, send_margin
from django_brockman.delivery import POLL_SECONDS, Attempt
from django_brockman.destinations import longest_timeout, setting_name
from django_brockman.outbox import Claim
from django_brockman.retry import Outcome, RetryPolicy, Verdict
from django_brockman.transitions import Change

if TYPE_CHECKING:
    from django_brockman.models import Trigger

logger = logging.getLogger("django_brockman.engine")

# An attempt and what it means; None means the trigger goes back unattempted.
Judged = tuple[Attempt, Outcome | None]


@dataclass(frozen=True)
class Tuning:
    """How results are gathered before they are written back, and how often the run
    looks at them.

    A crash loses at most one group's results, and those triggers are sent again with
    the same Idempotency-Key. One default batch a group: each write-back is a commit,
    which costs a disk flush.
    """

    write_back_size: int = 100
    write_back_seconds: float = 1.0
    # How long the threaded deliverer waits for a result before the run looks again.
    poll_seconds: float = POLL_SECONDS


@dataclass(frozen=True)
class FlushOptions:
    """One run's bounds and sizes. Built by from_settings(), the one place that fills in
    what the caller left as None from the settings."""

    limit: int | None
    batch_size: int
    concurrency: int
    max_seconds: float | None
    lease_seconds: float
    # How long before its lease ends a trigger may still be sent (see conf.send_margin).
    send_margin: float
    tuning: Tuning = field(default_factory=Tuning)

    @classmethod
    def from_settings(
        cls,
        *,
        limit: int | None = None,
        batch_size: int | None = None,
        concurrency: int | None = None,
        max_seconds: float | None = None,
        tuning: Tuning | None = None,
    ) -> FlushOptions:
        for name, value in (
            ("limit", limit),
            ("batch_size", batch_size),
            ("concurrency", concurrency),
            ("max_seconds", max_seconds),
        ):
            if value is not None and not value > 0:
                raise ValueError(f"flush() needs {name} above 0 or None, got {value!r}.")
        # Requests to every destination must end within the lease.
        timeout, setting = longest_timeout()
        problem = lease_problem(conf.LEASE_SECONDS, timeout, setting)
        if problem:
            raise ImproperlyConfigured(problem)
        return cls(
            limit=limit,
            batch_size=batch_size or conf.BATCH_SIZE,
            concurrency=concurrency or conf.CONCURRENCY,
            max_seconds=max_seconds,
            lease_seconds=conf.LEASE_SECONDS,
            send_margin=send_margin(timeout),
            tuning=tuning or Tuning(),
        )

    def claim_size(self, claimed: int, in_flight: int) -> int:
        """How many triggers to claim now; 0 for none.

        Claim while every sender still has one trigger queued behind its request (up to
        half a batch), so the senders do not wait on the claim's round trip, yet a
        flusher holds little more than one batch beyond what is in flight: the leases
        of held rows are ticking.
        """
        ahead = self.concurrency + min(self.concurrency, self.batch_size // 2)
        if in_flight >= ahead:
            return 0
        if self.limit is None:
            return self.batch_size
        return min(self.batch_size, self.limit - claimed)


class StopRules:
    """When a run starts no more requests: the caller's *stop* is set (a signal), the run
    halted itself (a configuration error, a bug), or *max_seconds* have passed."""

    def __init__(self, stop: threading.Event, max_seconds: float | None, clock: Clock) -> None:
        self.stop = stop
        self.halt = threading.Event()
        self.clock = clock
        self.deadline = None if max_seconds is None else clock.monotonic() + max_seconds

    def halted(self) -> bool:
        """Asked from the delivery threads too."""
        return self.halt.is_set() or self.stop.is_set() or self.out_of_time()

    def out_of_time(self) -> bool:
        return self.deadline is not None and self.clock.monotonic() >= self.deadline


class ClaimTracker:
    """Per claim, how many of its triggers have not come back from the deliverer."""

    def __init__(self) -> None:
        self.unanswered: Counter[uuid.UUID] = Counter()

    def add(self, claim: Claim) -> None:
        self.unanswered[claim.token] = len(claim.triggers)

    def answer(self, attempts: Iterable[Attempt]) -> bool:
        """Count *attempts* against their claims; True when one of those is now answered."""
        answered = False
        for attempt in attempts:
            token = attempt.trigger.claim_token
            assert token is not None
            self.unanswered[token] -= 1
            if not self.unanswered[token]:
                del self.unanswered[token]
                answered = True
        return answered


class WriteBackBuffer:
    """Results waiting to be written back, and when they must be."""

    def __init__(self, tuning: Tuning, margin: timedelta, clock: Clock) -> None:
        self.tuning = tuning
        self.margin = margin
        self.clock = clock
        self.judged: list[Judged] = []
        self.since = 0.0
        # The earliest lease end among the buffered results.
        self.lease_ends: datetime | None = None

    def add(self, judged: list[Judged]) -> None:
        if not self.judged:
            self.since = self.clock.monotonic()
        self.judged += judged
        for attempt, _ in judged:
            ends = attempt.trigger.lease_ends_at
            if ends is not None and (self.lease_ends is None or ends < self.lease_ends):
                self.lease_ends = ends

    def ready(self) -> bool:
        """Whether the buffer is full, old enough, or holds a result whose lease is ending."""
        if not self.judged:
            return False
        tuning = self.tuning
        return (
            len(self.judged) >= tuning.write_back_size
            or self.clock.monotonic() - self.since >= tuning.write_back_seconds
            or self.lease_ending()
        )

    def lease_ending(self) -> bool:
        """Whether a held result could outlive its lease by waiting for one more request.

        The result must be written while the claim is still ours: once the lease ends,
        another flusher may claim the row and send it again.
        """
        ends = self.lease_ends
        return ends is not None and self.clock.now() + self.margin >= ends

    def take(self) -> list[Judged]:
        judged, self.judged, self.lease_ends = self.judged, [], None
        return judged


class Judge:
    """What each attempt means under the RetryPolicy. Notes what stops the run: the first
    configuration error FocusLab reports, and the first exception that is a bug.

    A configuration error (a rejected key, a wrong endpoint) stops only the destination
    it came from: its triggers go back unspent and are claimed no more in this run. The
    run halts once every destination in *scope* (None: any) is refused.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        halt: threading.Event,
        clock: Clock,
        scope: frozenset[str] | None = None,
    ) -> None:
        self.policy = policy
        self.halt = halt
        self.clock = clock
        self.scope = scope
        self.error: str | None = None
        self.crash: Exception | None = None
        # Refused destinations, each with the first error FocusLab gave, in order.
        self.refused: dict[str, str] = {}
        # Destinations whose refusal a delivery thread saw and the run has not judged yet.
        self.refusing: set[str] = set()

    def refuses(self, trigger: Trigger) -> bool:
        """Whether *trigger*'s destination was refused: it must not be sent. Asked from
        the delivery threads."""
        return trigger.destination in self.refusing or trigger.destination in self.refused

    def notice(self, attempt: Attempt) -> None:
        """From a delivery thread, as soon as an attempt failed: whether FocusLab refused
        its destination is the policy's verdict, asked now so that no other thread sends
        to that destination meanwhile."""
        if self.policy.stops(attempt.error):
            self.refusing.add(attempt.trigger.destination)

    def __call__(self, attempts: list[Attempt]) -> list[Judged]:
        now = self.clock.now()
        return [(attempt, self.judge(attempt, now)) for attempt in attempts]

    def judge(self, attempt: Attempt, now: datetime) -> Outcome | None:
        if attempt.unexpected:
            self.abort(attempt)
        if attempt.skipped:
            return None
        outcome = self.policy.decide(attempt.error, attempt.trigger.attempts + 1, now)
        if outcome.verdict is Verdict.STOP:
            self.refuse(attempt.trigger.destination, outcome.error)
            return None
        return outcome

    def refuse(self, destination: str, error: str) -> None:
        if destination in self.refused:
            return
        # The errors name the single settings; say which of this destination's to check.
        for option in ("API_KEY", "ENDPOINT"):
            error = error.replace(f"BROCKMAN_{option}", setting_name(destination, option))
        self.refused[destination] = error
        if self.error is None:
            self.error = error
        if self.scope is None or self.scope <= self.refused.keys():
            logger.error("Stopping the flush: %s", error)
            self.halt.set()
        else:
            logger.error(
                "Stopping delivery to destination %r: %s The other destinations carry on.",
                destination,
                error,
            )

    def abort(self, attempt: Attempt) -> None:
        """Stop the run after an exception that is not FocusLab's answer: a bug."""
        assert attempt.error is not None
        if self.crash is None:
            self.crash = attempt.error
            logger.error(
                "Stopping the flush: sending trigger %s raised an unexpected error",
                attempt.trigger.uuid,
                exc_info=attempt.error,
            )
        self.halt.set()


def change_for(outcome: Outcome | None, now: datetime) -> Change:
    """The status change an outcome calls for; None: the trigger goes back unattempted."""
    if outcome is None:
        return transitions.released(now)
    if outcome.verdict is Verdict.ACCEPTED:
        return transitions.sent(now)
    if outcome.verdict is Verdict.RETRY:
        assert outcome.retry_at is not None
        return transitions.retried(outcome.retry_at, outcome.error, now)
    return transitions.failed(outcome.error, now)
