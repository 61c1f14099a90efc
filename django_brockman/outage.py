"""A worker's delivery outage, logged once when it starts and once when it ends.

A worker (flush_loop) that meets a dead endpoint would otherwise say so once per trigger
and per retry, for as long as the outage lasts; each trigger's line stays at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django_brockman.clock import Clock

if TYPE_CHECKING:
    from django_brockman.engine import FlushResult

logger = logging.getLogger("django_brockman.engine")


class OutageLog:
    """Given a run's result after each write-back (a flush's *progress*), logs a WARNING
    when attempts fail and none delivers, and another when one delivers again.

    Both are WARNINGs, so a log kept at WARNING shows the end of what it showed begin.
    *waiting* counts the triggers not yet delivered, for the second message.
    """

    def __init__(self, clock: Clock, waiting: Callable[[], int]) -> None:
        self.clock = clock
        self.waiting = waiting
        # When the outage began (the clock's monotonic seconds); None: delivering.
        self.since: float | None = None
        self.run: FlushResult | None = None
        self.sent = self.errors = 0

    def __call__(self, result: FlushResult) -> None:
        if result is not self.run:  # a new run's result: its counts start from 0
            self.run, self.sent, self.errors = result, 0, 0
        sent, errors = result.sent - self.sent, result.delivery_errors - self.errors
        self.sent, self.errors = result.sent, result.delivery_errors
        if sent and self.since is not None:
            self.ended()
        elif errors and not sent and self.since is None:
            self.began(result)

    def began(self, result: FlushResult) -> None:
        self.since = self.clock.monotonic()
        logger.warning(
            "Delivery to FocusLab is failing: %s. Triggers wait in the outbox and are "
            "retried; this is logged once, and again when delivery resumes.",
            result.latest_failure,
        )

    def ended(self) -> None:
        assert self.since is not None
        lasted = self.clock.monotonic() - self.since
        self.since = None
        logger.warning(
            "Delivering to FocusLab again after %s; %d triggers still waiting.",
            format_lasted(lasted),
            self.waiting(),
        )


def format_lasted(seconds: float) -> str:
    """A duration as a person says it: ``15 s``, ``42 min``, ``3 h 5 min``."""
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
