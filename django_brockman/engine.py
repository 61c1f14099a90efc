"""flush(): drain the outbox. Claim a batch, deliver it outside any transaction, write back.

flush_loop() keeps flushing, for a worker that lives for days.

Setting a run's *stop* from another thread (a signal handler) lets requests in flight
finish and releases the rest unsent; so does the end of its *max_seconds*. An exception
that is not FocusLab's answer (a bug in a backend, a database error) ends the run the
same way, then is raised again."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

from django.db import close_old_connections

from django_brockman import dbretry, outbox, stats, transitions
from django_brockman.backends.router import DestinationRouter
from django_brockman.clock import SYSTEM_CLOCK, Clock
from django_brockman.dbretry import DatabaseRetry, DatabaseUnavailable
from django_brockman.delivery import Deliverer, Sender, make_deliverer
from django_brockman.destinations import configured, validate_destination
from django_brockman.flushing import (
    ClaimTracker,
    FlushOptions,
    Judge,
    StopRules,
    Tuning,
    WriteBackBuffer,
    change_for,
)
from django_brockman.outage import OutageLog
from django_brockman.outcomes import Group, Ledger, Reason
from django_brockman.retention import Retention
from django_brockman.retry import RetryPolicy

__all__ = ["FlushOptions", "FlushResult", "Tuning", "flush", "flush_loop", "stop_on_signals"]


@dataclass
class FlushResult:
    """What one flush run did.

    ``claimed`` counts claims (a trigger retried within the run is claimed again);
    ``sent``, ``retried``, ``failed``, ``released`` and ``lost`` count triggers, each
    once, by its last outcome in the run.
    """

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    released: int = 0
    # Results not written because the row had passed to another flusher's claim.
    lost: int = 0
    # Why the run stopped early on a configuration error (bad API key, wrong endpoint).
    error: str | None = None
    # Destinations that FocusLab refused (a rejected key, a wrong endpoint), each with
    # its error: their triggers went back unspent while the others were delivered.
    refused: dict[str, str] = field(default_factory=dict)
    # True when the run was asked to stop (a signal) before it was done.
    interrupted: bool = False
    # Why triggers wait for a retry or failed, one group per reason (set when the run ends).
    reasons: list[Group] = field(default_factory=list)
    # Attempts that found no delivery (no answer, or 408, 429, 5xx), and the latest's reason.
    delivery_errors: int = 0
    latest_failure: Reason | None = None

    @property
    def undelivered(self) -> bool:
        """Nothing was delivered because FocusLab could not be reached or answered only
        with errors. Triggers FocusLab refused as bad (a 400) do not make an outage."""
        return not self.sent and self.delivery_errors > 0

    def __str__(self) -> str:
        text = f"{self.sent} sent, {self.retried} to retry, {self.failed} failed"
        if self.released:
            text += f", {self.released} released unsent"
        if self.lost:
            text += f", {self.lost} results not written (the rows had passed to another claim)"
        for destination, error in self.refused.items():
            text += f"; destination {destination!r} refused: {error}"
        return text

    def count(self, ledger: Ledger) -> None:
        """Take each trigger's fate so far from *ledger*."""
        self.sent, self.retried, self.failed = ledger.sent, ledger.retried, ledger.failed
        self.released, self.lost = ledger.released, ledger.lost
        self.delivery_errors = ledger.delivery_errors
        self.latest_failure = ledger.latest_failure


ProgressCallback = Callable[[FlushResult], None]


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
    clock: Clock = SYSTEM_CLOCK,
    tuning: Tuning | None = None,
    from_task: bool = False,
    db_retry: DatabaseRetry | None = None,
    destinations: Collection[str] | None = None,
    only: Collection[int] | None = None,
) -> FlushResult:
    """Deliver due triggers until none is due, *limit* were claimed, *max_seconds* have
    passed, *stop* is set, or FocusLab refuses every destination (see FlushResult).

    None means the setting. *destinations* and *only* limit the run to those names and
    primary keys; *backend* replaces every destination's. How a run stops: see the module.
    *from_task*: see outbox.refuse_open_transaction. A database outage is waited out
    through *db_retry* (by default up to the lease; see dbretry): past that, or when
    *stop* is set during one, DatabaseUnavailable is raised.
    """
    options = FlushOptions.from_settings(
        limit=limit,
        batch_size=batch_size,
        concurrency=concurrency,
        max_seconds=max_seconds,
        tuning=tuning,
    )
    alias, stop = outbox.db_alias(using), stop or threading.Event()
    db = db_retry or DatabaseRetry(alias, patience=options.lease_seconds, clock=clock, stop=stop)
    _connect(db, from_task)
    run = FlushRun(options, alias, stop, clock, policy or RetryPolicy.from_settings(), db)
    run.limit_to(_scope(destinations), only, progress)
    return run.execute(_deliverer(run, backend))


def _connect(db: DatabaseRetry, from_task: bool) -> None:
    """A fresh connection if the one kept is broken, and no transaction open on it."""
    dbretry.drop_unusable(db.using)
    db.run(outbox.refuse_open_transaction, db.using, from_task=from_task)


def _scope(destinations: Collection[str] | None) -> frozenset[str]:
    """The destinations a run delivers to; ValueError names an unknown one."""
    if destinations is None:
        return frozenset(configured())
    if isinstance(destinations, str):
        destinations = [destinations]
    return frozenset(validate_destination(name) for name in destinations)


def _deliverer(run: FlushRun, backend: str | None) -> Deliverer:
    """Sends through *backend* (or each destination's) while *run* is not halted, the
    trigger's destination was not refused and the lease allows."""
    options = run.options
    sender = Sender(
        run.halted,
        timedelta(seconds=options.send_margin),
        run.clock.now,
        skip=run.judge.refuses,
        notice=run.judge.notice,
    )
    scope = run.scope
    return make_deliverer(
        lambda: DestinationRouter(scope, backend),
        sender,
        options.concurrency,
        poll_seconds=options.tuning.poll_seconds,
    )


class FlushRun:
    """One flush, top to bottom: claim, deliver, write back, until a stop rule says stop."""

    # Given the result after each write-back (a progress bar).
    progress: ProgressCallback | None = None
    # The destinations delivered to (None: any), and the only rows to claim (None: any).
    scope: frozenset[str] | None = None
    only: Collection[int] | None = None

    def __init__(
        self,
        options: FlushOptions,
        using: str,
        stop: threading.Event,
        clock: Clock,
        policy: RetryPolicy,
        db: DatabaseRetry,
    ) -> None:
        self.options = options
        self.using = using
        self.clock = clock
        self.stops = StopRules(stop, options.max_seconds, clock)
        # The claim and the write-back go through it: see dbretry.
        self.db = db
        self.judge = Judge(policy, self.stops.halt, clock)
        self.claims = ClaimTracker()
        margin = timedelta(seconds=options.send_margin)
        self.buffer = WriteBackBuffer(options.tuning, margin, clock)
        self.result = FlushResult()
        self.retention = Retention.from_settings(using, clock)
        self.ledger = Ledger()
        # Set when a claim found nothing due; a release makes rows due again.
        self.exhausted = False

    def limit_to(
        self,
        scope: frozenset[str] | None,
        only: Collection[int] | None,
        progress: ProgressCallback | None = None,
    ) -> None:
        """Deliver only to the destinations in *scope*, only the rows in *only*; tell
        *progress* after each write-back."""
        self.scope = self.judge.scope = scope
        self.only, self.progress = only, progress

    def execute(self, deliverer: Deliverer) -> FlushResult:
        try:
            try:
                self.deliver(deliverer)
            except BaseException:
                self.stops.halt.set()
                salvage(self, deliverer)
                raise
        finally:
            deliverer.close()
        self.result.error = self.judge.error
        self.result.reasons = self.ledger.groups()
        self.result.refused = dict(self.judge.refused)
        self.result.interrupted = self.stops.stop.is_set() and self.result.error is None
        if self.judge.crash is not None:
            raise self.judge.crash
        return self.result

    def deliver(self, deliverer: Deliverer) -> None:
        self.claim(deliverer)
        for attempts in deliverer.results():
            # Judged at once, so that an answer that stops the run stops it before the
            # next request, even though the result is written back later.
            self.buffer.add(self.judge(attempts))
            # Every result of a claim is in: written back at once, so that the results
            # of at most one claim wait in memory and a crash repeats requests of the
            # batch it interrupted, never of an earlier one.
            if self.claims.answer(attempts) or self.buffer.ready():
                self.write_back()
            self.claim(deliverer)
        self.write_back()

    def halted(self) -> bool:
        """Whether to start no more requests; asked from the delivery threads too. Also
        while the database is away: what is sent then could not be written back."""
        return self.stops.halted() or self.db.down

    def claim(self, deliverer: Deliverer) -> None:
        if self.exhausted or self.halted():
            return
        size = self.options.claim_size(self.result.claimed, deliverer.in_flight)
        if not size:
            return
        self.db.run(self.retention.tidy)  # old finished rows, a small batch between claims
        claim = self.db.run(claim_batch, self, size)
        if not claim.triggers:
            self.exhausted = True
            return
        self.claims.add(claim)
        self.result.claimed += len(claim.triggers)
        for trigger in claim.triggers:
            deliverer.submit(trigger)
        claim.triggers = []  # the deliverer holds them now; keep memory flat

    def write_back(self) -> None:
        judged = self.buffer.take()
        if not judged:
            return
        now = self.clock.now()
        results = [(attempt.trigger, change_for(outcome, now)) for attempt, outcome in judged]
        tally = self.db.run(transitions.write_back, self.using, results)
        self.ledger.record(judged, tally.unwritten)
        self.result.count(self.ledger)
        if tally.released:
            # Released rows are due again at once (their lease was ending, say): the
            # queue is not empty, whatever an earlier claim found.
            self.exhausted = False
        if self.progress is not None:
            self.progress(self.result)


def claim_batch(run: FlushRun, size: int) -> outbox.Claim:
    """Its lease counted from now, when the database answers (after an outage too)."""
    return outbox.claim_batch(
        size,
        run.options.lease_seconds,
        run.using,
        run.clock.now(),
        destinations=None if run.scope is None else run.scope - run.judge.refused.keys(),
        pks=run.only,
    )


def salvage(run: FlushRun, deliverer: Deliverer) -> None:
    """After an exception: let requests in flight end, write back what is known, and
    release what was never sent.

    Rows whose results cannot be written stay claimed until their lease ends, then
    are sent again with the same Idempotency-Key, exactly as after a crash.
    """
    try:
        for attempts in deliverer.results():
            run.buffer.add(run.judge(attempts))
        run.write_back()
    except DatabaseUnavailable as exc:
        transitions.logger.warning(
            "Could not hand back the triggers this run claimed (%s); they become due "
            "again when their lease ends.",
            exc,
        )
    except Exception:
        transitions.logger.exception(
            "Could not hand back the triggers this run claimed; they become due again "
            "when their lease ends."
        )


def flush_loop(
    *,
    interval: float = 5.0,
    stop: threading.Event | None = None,
    report: ProgressCallback | None = None,
    clock: Clock = SYSTEM_CLOCK,
    **flush_arguments: Any,
) -> FlushResult:
    """Flush again and again until *stop* is set or FocusLab refuses every destination.

    A refused destination is left out of the runs that follow. Sleeps *interval* seconds
    after a run that found nothing due, and starts the next at once after one that did.
    *report* is given each run's result. Returns the last, with every destination refused
    meanwhile. A database outage of any length is waited out; *stop* set during one ends
    the loop as a signal does. Outages are logged when they start and end (OutageLog).
    """
    stop = stop or threading.Event()
    scope = _scope(flush_arguments.pop("destinations", None))
    refused: dict[str, str] = {}
    using = flush_arguments.get("using")
    db = DatabaseRetry(outbox.db_alias(using), clock=clock, stop=stop)  # one for every run
    outage = OutageLog(clock, lambda: stats.count_undelivered(using))
    flush_arguments.update(stop=stop, clock=clock, db_retry=db, progress=outage)
    while True:
        try:
            result = flush(destinations=scope, **flush_arguments)
        except DatabaseUnavailable:  # with no patience set, only *stop* ends the wait
            return FlushResult(interrupted=True, refused=refused)
        refused.update(result.refused)
        scope -= result.refused.keys()
        if report is not None:
            report(result)
        if not scope or clock.wait(stop, 0 if result.claimed else interval):
            result.refused = refused
            result.error = result.error or next(iter(refused.values()), None)
            return result
        # A worker lives for days: drop connections the database closed or that outlived
        # CONN_MAX_AGE, and the outbox's if it is broken, even with CONN_MAX_AGE = None.
        close_old_connections()
        dbretry.drop_unusable(db.using)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Meanwhile, SIGTERM and SIGINT set the event yielded: a run finishes what is in
    flight, then stops. Outside the main thread no handler can be installed."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


SIGNALS = (signal.SIGTERM, signal.SIGINT)
