"""Database steps that ride out an outage: a restart, a dropped connection, a locked SQLite.

The delivery path runs its own statements (the claim and transitions.write_back) through
``DatabaseRetry.run``: when the database is away it closes the broken connection, waits
with capped exponential backoff and tries again, so a flusher keeps what it knows instead
of dying with it. An outage is logged once when it starts and once when it ends. It waits
on the flusher's injected Clock (clock.py), so the backoff is tested without waiting.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connections

from django_brockman.clock import SYSTEM_CLOCK, Clock
from django_brockman.unmigrated import is_missing_outbox_table

logger = logging.getLogger("django_brockman.db")

T = TypeVar("T")
P = ParamSpec("P")

# Backoff between attempts: from BASE, doubling, never above CAP. SQLite's own busy
# timeout has already waited before "database is locked" reaches us.
BASE_SECONDS = 0.1
CAP_SECONDS = 5.0


class DatabaseUnavailable(DatabaseError):
    """The database stayed away longer than the caller was willing to wait."""


def is_outage(exc: BaseException) -> bool:
    """Whether *exc* says the database is away or busy, rather than that a statement is
    wrong: a lost or refused connection (OperationalError, InterfaceError), or SQLite's
    ``database is locked``. Integrity and programming errors are bugs, never retried;
    nor is a missing outbox table (an OperationalError on SQLite): migrations were not
    run, and the command says so in one line (management.base.OutboxCommand)."""
    return (
        isinstance(exc, (OperationalError, InterfaceError))
        and not isinstance(exc, DatabaseUnavailable)
        and not is_missing_outbox_table(exc)
    )


def drop_unusable(using: str) -> None:
    """Close *using*'s connection if it is broken or stale, whatever ``CONN_MAX_AGE`` and
    ``CONN_HEALTH_CHECKS`` say; the next statement opens a fresh one.

    ``close_if_unusable_or_obsolete`` trusts a connection with ``CONN_MAX_AGE = None``
    until a statement fails on it; a worker that slept through a database restart would
    die on its next statement. Outside a transaction only: inside one, closing would
    lose the caller's work.
    """
    connection = connections[using]
    if connection.connection is None or connection.in_atomic_block:
        return
    try:
        usable = connection.is_usable()
    except Exception:  # a driver may raise instead of answering False
        usable = False
    if not usable:
        try:
            connection.close()  # forgets the connection even if this raises
        except Exception:
            logger.debug("Closing the broken connection raised", exc_info=True)
    else:
        connection.close_if_unusable_or_obsolete()


class DatabaseRetry:
    """Runs database steps on one alias, waiting out outages.

    *patience* is how long one outage may last before ``run`` gives up with
    DatabaseUnavailable; None waits for ever (a ``--loop`` worker). Setting *stop* (a
    signal) ends the wait the same way. The backoff is waited on *clock*. One instance
    keeps its outage state across steps, so a long outage is logged once, however many
    steps wait on it.
    """

    def __init__(
        self,
        using: str,
        *,
        patience: float | None = None,
        base: float = BASE_SECONDS,
        cap: float = CAP_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
        stop: threading.Event | None = None,
    ) -> None:
        self.using = using
        self.patience = patience
        self.base = base
        self.cap = cap
        self.clock = clock
        self.stop = stop or threading.Event()
        # When the current outage began (clock.monotonic()), or None while the database is up.
        self.down_since: float | None = None
        self.outages = 0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def run(self, step: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``step(*args, **kwargs)``; on an outage, close the connection and run it
        again after a backoff, until it succeeds or *patience* runs out.

        *step* must be safe to run again: a statement whose answer was lost may have
        committed. Every step of the delivery path is (a claim or write-back is guarded
        by its claim token). Inside a transaction nothing is retried: the error is the
        caller's to handle.
        """
        delay = self.base
        while True:
            try:
                result = step(*args, **kwargs)
            except Exception as exc:
                if not is_outage(exc) or connections[self.using].in_atomic_block:
                    raise
                self.failed(exc)
                if self.out_of_patience() or self.clock.wait(self.stop, delay):
                    raise DatabaseUnavailable(
                        f"The database {self.using!r} is unavailable: {exc}"
                    ) from exc
                delay = min(delay * 2, self.cap)
                continue
            self.recovered()
            return result

    def failed(self, exc: BaseException) -> None:
        try:
            connections[self.using].close()  # forgets the connection even if this raises
        except Exception:
            logger.debug("Closing the broken connection raised", exc_info=True)
        if self.down_since is None:
            self.down_since = self.clock.monotonic()
            self.outages += 1
            logger.warning(
                "The database %r is unavailable (%s); waiting for it, and retrying with "
                "backoff. What was sent is kept and written back when it returns.",
                self.using,
                str(exc).strip(),
            )

    def out_of_patience(self) -> bool:
        return (
            self.patience is not None
            and self.down_since is not None
            and self.clock.monotonic() - self.down_since >= self.patience
        )

    def recovered(self) -> None:
        if self.down_since is not None:
            logger.warning(
                "The database %r is back after %.1f s.",
                self.using,
                self.clock.monotonic() - self.down_since,
            )
            self.down_since = None
