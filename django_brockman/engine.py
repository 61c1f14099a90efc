"""flush(): drain the outbox. Claim a batch, deliver it outside any transaction, write back."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal
from django.utils import timezone

from django_brockman import dbretry, outbox, signals
from django_brockman.backends import get_backend
from django_brockman.conf import conf
from django_brockman.dbretry import DatabaseRetry
from django_brockman.delivery import Attempt, Deliverer, Sender, make_deliverer
from django_brockman.models import Status, Trigger
from django_brockman.outbox import Claim
from django_brockman.retry import Outcome, RetryPolicy, Verdict

logger = logging.getLogger("django_brockman.engine")

# Results are gathered and written back in groups. A crash loses at most one group's
# results, and those triggers are sent again with the same Idempotency-Key.
# One default batch a group: each write-back is a commit, which costs a disk flush.
WRITE_BACK_SIZE = 100
WRITE_BACK_SECONDS = 1.0


@dataclass
class FlushResult:
    """What one flush run did."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    # Results not written because the row had passed to another flusher's claim.
    lost: int = 0
    # Why the run stopped early on a configuration error (bad API key, wrong endpoint).
    error: str | None = None
    # True when the run was asked to stop (a signal) before it was done.
    interrupted: bool = False

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed"
        if self.released:
            text += f", {self.released} released unsent"
        if self.lost:
            text += f", {self.lost} results not written (the rows had passed to another claim)"
        return text


@dataclass(frozen=True)
class FlushOptions:
    limit: int | None = None
    batch_size: int = 100
    concurrency: int = 1
    max_seconds: float | None = None
    lease_seconds: float = 300.0
    send_margin: float = 11.0


ProgressCallback = Callable[[FlushResult], None]
# An attempt and what it means; None means the trigger goes back unattempted.
Judged = tuple[Attempt, Outcome | None]


@dataclass
class Results:
    """One claim's share of a write-back, by what happens to the rows."""

    sent: list[Trigger] = field(default_factory=list)
    retried: list[tuple[Trigger, Outcome]] = field(default_factory=list)
    released: list[Trigger] = field(default_factory=list)


def flush(
    *,
    limit: int | None = None,
    batch_size: int | None = None,
    concurrency: int | None = None,
    max_seconds: float | None = None,
    backend: str | None = None,
    using: str | None = None,
    stop: threading.Event | None = None,
    policy: RetryPolicy | None = None,
    progress: ProgressCallback | None = None,
    db_retry: DatabaseRetry | None = None,
) -> FlushResult:
    """Deliver due triggers until none is due, *limit* triggers were claimed,
    *max_seconds* have passed, *stop* is set, or FocusLab rejects the configuration.

    Arguments left as None come from the settings. Setting *stop* from another thread
    (a signal handler) lets requests in flight finish and releases the rest unsent; so
    does the end of *max_seconds*. An exception that is not FocusLab's answer (a bug in a
    backend, a database error) ends the run the same way, then is raised again.

    The run's own statements wait out a database outage through *db_retry* (by default,
    for up to the lease): no request is started while the database is away, and the
    results already known are written back once it returns. An outage longer than that
    raises dbretry.DatabaseUnavailable.
    """
    _check_positive(
        limit=limit, batch_size=batch_size, concurrency=concurrency, max_seconds=max_seconds
    )
    options = FlushOptions(
        limit=limit,
        batch_size=batch_size or conf.BATCH_SIZE,
        concurrency=concurrency or conf.CONCURRENCY,
        max_seconds=max_seconds,
        lease_seconds=conf.LEASE_SECONDS,
        send_margin=conf.TIMEOUT + 1.0,
    )
    alias = outbox.db_alias(using)
    db = db_retry or DatabaseRetry(alias, patience=options.lease_seconds)
    dbretry.drop_unusable(alias)
    db.run(outbox.refuse_open_transaction, alias)
    if options.lease_seconds <= options.send_margin:
        # Every trigger would be released unsent and claimed again, for ever.
        raise ImproperlyConfigured(
            f"BROCKMAN_LEASE_SECONDS ({options.lease_seconds}) must be longer than "
            f"BROCKMAN_TIMEOUT plus one second ({options.send_margin})."
        )
    run = FlushRun(
        options,
        alias,
        stop or threading.Event(),
        policy or RetryPolicy.from_settings(),
        progress,
        db,
    )
    sender = Sender(run.halted, timedelta(seconds=options.send_margin))
    return run.execute(make_deliverer(lambda: get_backend(backend), sender, options.concurrency))


def _check_positive(**values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ValueError(f"flush() needs {name} above 0 or None, got {value!r}.")


class FlushRun:
    """The state of one flush: claims held, results gathered, counts so far."""

    def __init__(
        self,
        options: FlushOptions,
        using: str | None,
        stop: threading.Event,
        policy: RetryPolicy,
        progress: ProgressCallback | None,
        db: DatabaseRetry,
    ) -> None:
        self.options = options
        self.using = using
        # *stop* is the caller's (a signal); *halt* is the run's own (a configuration
        # error, an unexpected error). Either one ends the run the same way.
        self.stop = stop
        self.halt = threading.Event()
        self.policy = policy
        self.progress = progress
        # Every statement of the run goes through it: see dbretry.
        self.db = db
        self.result = FlushResult()
        self.claims: dict[uuid.UUID, Claim] = {}
        self.outstanding: Counter[uuid.UUID] = Counter()
        # Per claim, the triggers whose attempt has not come back from the deliverer.
        self.unanswered: Counter[uuid.UUID] = Counter()
        # The earliest lease end among the results in the buffer.
        self.lease_ends: datetime | None = None
        self.buffer: list[Judged] = []
        self.buffered_since = 0.0
        self.started = time.monotonic()
        self.exhausted = False
        # The first exception that was not FocusLab's answer, raised once the run is over.
        self.crash: Exception | None = None

    def execute(self, deliverer: Deliverer) -> FlushResult:
        try:
            try:
                self.deliver(deliverer)
            except BaseException:
                self.halt.set()
                self.salvage(deliverer)
                raise
        finally:
            deliverer.close()
        self.result.interrupted = self.stop.is_set() and self.result.error is None
        if self.crash is not None:
            raise self.crash
        return self.result

    def deliver(self, deliverer: Deliverer) -> None:
        self.refill(deliverer)
        for attempts in deliverer.results():
            self.collect(attempts)
            self.refill(deliverer)
        self.write_back()

    def salvage(self, deliverer: Deliverer) -> None:
        """After an exception: let requests in flight end, write back what is known, and
        release what was never sent.

        Rows whose results cannot be written stay claimed until their lease ends, then
        are sent again with the same Idempotency-Key, exactly as after a crash.
        """
        try:
            for attempts in deliverer.results():
                self.buffer.extend(self.judge_all(attempts))
            self.write_back()
        except Exception:
            logger.exception(
                "Could not hand back the triggers this run claimed; they become due again "
                "when their lease ends."
            )

    def halted(self) -> bool:
        """Whether to start no more requests. Asked from the delivery threads too.

        Also while the database is away: what is sent then could not be written back.
        """
        return self.halt.is_set() or self.stop.is_set() or self.db.down or self.out_of_time()

    def out_of_time(self) -> bool:
        max_seconds = self.options.max_seconds
        return max_seconds is not None and time.monotonic() - self.started >= max_seconds

    def may_claim(self) -> bool:
        options = self.options
        if self.exhausted or self.halted():
            return False
        return options.limit is None or self.result.claimed < options.limit

    def refill(self, deliverer: Deliverer) -> None:
        # Claim while every sender still has one trigger queued behind its request (up to
        # half a batch), so the senders do not wait on the claim's round trip, yet a
        # flusher holds little more than one batch beyond what is in flight: the leases
        # of held rows are ticking.
        concurrency = self.options.concurrency
        ahead = concurrency + min(concurrency, self.options.batch_size // 2)
        if deliverer.in_flight >= ahead or not self.may_claim():
            return
        size = self.options.batch_size
        if self.options.limit is not None:
            size = min(size, self.options.limit - self.result.claimed)
        claim = self.db.run(outbox.claim_batch, size, self.options.lease_seconds, self.using)
        if not claim.triggers:
            self.exhausted = True
            return
        self.claims[claim.token] = claim
        self.outstanding[claim.token] = len(claim.triggers)
        self.unanswered[claim.token] = len(claim.triggers)
        self.result.claimed += len(claim.triggers)
        for trigger in claim.triggers:
            deliverer.submit(trigger)
        claim.triggers = []  # the deliverer holds them now; keep memory flat

    def collect(self, attempts: list[Attempt]) -> None:
        if not self.buffer:
            self.buffered_since = time.monotonic()
        # Judged at once, so that an answer that stops the run stops it before the
        # next request, even though the result is written back later.
        self.buffer.extend(self.judge_all(attempts))
        claim_answered = self.note_answers(attempts)
        if self.buffer and (
            len(self.buffer) >= WRITE_BACK_SIZE
            or time.monotonic() - self.buffered_since >= WRITE_BACK_SECONDS
            # Every result of a claim is in: written back at once, so that the results of
            # at most one claim wait in memory and a crash repeats requests of the batch
            # it interrupted, never of an earlier one.
            or claim_answered
            or self.lease_ending()
        ):
            self.write_back()

    def note_answers(self, attempts: list[Attempt]) -> bool:
        """Count *attempts* against their claims; True when one of those is answered.

        Also keeps the earliest lease end among the buffered results.
        """
        answered = False
        for attempt in attempts:
            trigger = attempt.trigger
            assert trigger.claim_token is not None
            self.unanswered[trigger.claim_token] -= 1
            if not self.unanswered[trigger.claim_token]:
                del self.unanswered[trigger.claim_token]
                answered = True
            if self.lease_ends is None or trigger.next_attempt_at < self.lease_ends:
                self.lease_ends = trigger.next_attempt_at
        return answered

    def lease_ending(self) -> bool:
        """Whether a held result could outlive its lease by waiting for one more request.

        The result must be written while the claim is still ours: once the lease ends,
        another flusher may claim the row and send it again.
        """
        margin = timedelta(seconds=self.options.send_margin)
        return self.lease_ends is not None and timezone.now() + margin >= self.lease_ends

    def write_back(self) -> None:
        """Write the gathered results: per claim, one UPDATE each for the sent, the
        retried and the released rows; one per failed row, for its signal."""
        judged, self.buffer = self.buffer, []
        self.lease_ends = None
        now = timezone.now()
        groups: defaultdict[uuid.UUID, Results] = defaultdict(Results)
        for attempt, outcome in judged:
            trigger = attempt.trigger
            assert trigger.claim_token is not None
            results = groups[trigger.claim_token]
            if outcome is None:
                results.released.append(trigger)
            elif outcome.verdict is Verdict.SENT:
                results.sent.append(trigger)
            elif outcome.verdict is Verdict.RETRY:
                results.retried.append((trigger, outcome))
            else:
                self.settle_failed(self.claims[trigger.claim_token], trigger, outcome)
        for token, results in groups.items():
            claim = self.claims[token]
            self.settle_sent(claim, results.sent, now)
            self.settle_retried(claim, results.retried)
            unsent = [t.pk for t in results.released]
            released = self.db.run(outbox.release, claim, unsent)
            self.result.released += released
            if released:
                # Released rows are due again at once (their lease was ending, say): the
                # queue is not empty, whatever an earlier claim found.
                self.exhausted = False
        self.forget_claims(judged)
        if judged and self.progress is not None:
            self.progress(self.result)

    def judge_all(self, attempts: list[Attempt]) -> list[Judged]:
        now = timezone.now()
        return [(attempt, self.judge(attempt, now)) for attempt in attempts]

    def judge(self, attempt: Attempt, now: datetime) -> Outcome | None:
        """The attempt's outcome, or None when the trigger goes back unattempted."""
        if attempt.unexpected:
            self.abort(attempt)
        if attempt.skipped:
            return None
        outcome = self.policy.decide(attempt.error, attempt.trigger.attempts + 1, now)
        if outcome.verdict is Verdict.STOP:
            if self.result.error is None:
                self.result.error = outcome.error
                logger.error("Stopping the flush: %s", outcome.error)
            self.halt.set()
            return None
        return outcome

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

    def settle_retried(self, claim: Claim, retried: list[tuple[Trigger, Outcome]]) -> None:
        if not retried:
            return
        retries: dict[int, tuple[datetime, str]] = {}
        for trigger, outcome in retried:
            assert outcome.retry_at is not None
            retries[trigger.pk] = (outcome.retry_at, outcome.error)
            trigger.attempts += 1
            trigger.status, trigger.next_attempt_at = Status.PENDING, outcome.retry_at
            trigger.last_error = outcome.error
            logger.info("Trigger %s will be retried: %s", trigger.uuid, outcome.error)
        written = self.db.run(outbox.mark_retries, claim, retries)
        self.result.retried += written
        self.result.lost += len(retried) - written

    def settle_failed(self, claim: Claim, trigger: Trigger, outcome: Outcome) -> None:
        # One UPDATE per row: trigger_failed goes only to rows this flusher still held,
        # and a batched UPDATE would not say which those were. Failures are rare.
        trigger.attempts += 1
        trigger.last_error = outcome.error
        written = self.db.run(outbox.mark_failed, claim, trigger.pk, outcome.error)
        trigger.status = Status.FAILED
        self.result.failed += written
        self.result.lost += 1 - written
        logger.warning("Trigger %s failed: %s", trigger.uuid, outcome.error)
        if written:
            self.notify(signals.trigger_failed, trigger=trigger, error=outcome.error)

    def settle_sent(self, claim: Claim, triggers: list[Trigger], now: datetime) -> None:
        if not triggers:
            return
        ids = [trigger.pk for trigger in triggers]
        written = self.db.run(outbox.mark_sent, claim, ids, now)
        self.result.sent += written
        self.result.lost += len(triggers) - written
        for trigger in triggers:
            trigger.status, trigger.sent_at = Status.SENT, now
            trigger.attempts += 1
            logger.debug("Trigger %s sent", trigger.uuid)
        if written and signals.trigger_sent.has_listeners():
            # Only rows this flusher still held: one claimed again after its lease ran
            # out, or deleted by an erasure request, was not written.
            held = ids if written == len(ids) else self.db.run(outbox.sent_among, claim, ids, now)
            for trigger in triggers:
                if trigger.pk in held:
                    self.notify(signals.trigger_sent, trigger=trigger)

    @staticmethod
    def notify(signal: Signal, **kwargs: Any) -> None:
        # A receiver's error must not stop the write-back: the results not yet written
        # would be lost and their triggers sent again.
        for receiver, response in signal.send_robust(Trigger, **kwargs):
            if isinstance(response, Exception):
                logger.error(
                    "A receiver of a django_brockman signal raised (%r)",
                    receiver,
                    exc_info=response,
                )

    def forget_claims(self, judged: list[Judged]) -> None:
        for attempt, _ in judged:
            token = attempt.trigger.claim_token
            assert token is not None
            self.outstanding[token] -= 1
            if not self.outstanding[token]:
                del self.outstanding[token], self.claims[token]
