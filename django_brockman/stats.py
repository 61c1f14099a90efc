"""The outbox's health in figures, for the admin's health page and brockman_status.

Every figure costs the same whatever the day's send volume and the outbox's history:
the hourly figures and the latest error come from the per-hour delivery counts
(counters.py, a few rows an hour), the rest from indexes on the unfinished rows.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from django_brockman import counters
from django_brockman.counters import HourCount, LatestError
from django_brockman.destinations import configured
from django_brockman.models import Status, Trigger
from django_brockman.outbox import db_alias

HOURS = 24
# Counted over all time. Sent rows are not counted here: their history grows until
# retention or purge removes it; the hourly counts say how many were sent.
COUNTED = (Status.PENDING, Status.SENDING, Status.FAILED)

# The rule for the state (README.rst, "Health states"). Nothing delivered for this long
# while the latest attempt failed and triggers wait for a retry: failing.
FAILING_AFTER = dt.timedelta(minutes=5)
# The oldest due trigger has waited this long for a flusher: degraded, then failing.
OVERDUE_DEGRADED = dt.timedelta(minutes=15)
OVERDUE_FAILING = dt.timedelta(hours=1)


class State(enum.Enum):
    """How delivery is going now; ordered from best to worst."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    FAILING = "failing"

    @property
    def rank(self) -> int:
        return list(State).index(self)


@dataclass(frozen=True)
class Health:
    """The figures, read at *now*."""

    now: dt.datetime
    # Triggers by status, for the statuses in COUNTED.
    counts: dict[str, int]
    # Pending triggers that have failed at least once and wait for their next attempt.
    waiting_retry: int
    # The creation time of the oldest trigger not delivered yet (pending or sending).
    oldest_pending_at: dt.datetime | None
    # Since when the longest-waiting due trigger has been due (None: nothing is due).
    oldest_due_at: dt.datetime | None
    last_sent_at: dt.datetime | None
    latest_error: LatestError | None
    per_hour: list[HourCount]
    # The counts of each destination: every configured one, and any other name rows
    # still carry (a destination removed from the settings, whose rows wait).
    by_destination: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds since the oldest undelivered trigger was recorded."""
        return _seconds_since(self.oldest_pending_at, self.now)

    @property
    def overdue(self) -> float | None:
        """Seconds the longest-waiting due trigger has been due."""
        return _seconds_since(self.oldest_due_at, self.now)

    @property
    def sent_last_24h(self) -> int:
        return sum(hour.sent for hour in self.per_hour)

    @property
    def retried_last_24h(self) -> int:
        return sum(hour.retried for hour in self.per_hour)

    @property
    def failed_last_24h(self) -> int:
        return sum(hour.failed for hour in self.per_hour)

    @property
    def failed_last_hour(self) -> int:
        """Given up on in the current or the previous clock hour."""
        return sum(hour.failed for hour in self.per_hour[-2:])

    @property
    def error_unresolved(self) -> bool:
        """Whether nothing was delivered since the latest error."""
        error, sent = self.latest_error, self.last_sent_at
        return error is not None and (sent is None or sent < error.at)

    @property
    def assessment(self) -> tuple[State, list[str]]:
        return assess(self)

    @property
    def state(self) -> State:
        return self.assessment[0]

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values, for monitoring systems."""
        state, reasons = self.assessment
        error = self.latest_error
        return {
            "now": self.now.isoformat(),
            "state": state.value,
            "reasons": reasons,
            "counts": self.counts,
            "waiting_retry": self.waiting_retry,
            "oldest_pending_at": _iso(self.oldest_pending_at),
            "oldest_pending_age_seconds": self.oldest_pending_age,
            "oldest_due_at": _iso(self.oldest_due_at),
            "overdue_seconds": self.overdue,
            "last_sent_at": _iso(self.last_sent_at),
            "latest_error": error.text if error else None,
            "latest_error_at": _iso(error.at) if error else None,
            "sent_last_24h": self.sent_last_24h,
            "retried_last_24h": self.retried_last_24h,
            "failed_last_24h": self.failed_last_24h,
            "per_hour": [
                {
                    "hour": hour.start.isoformat(),
                    "sent": hour.sent,
                    "retried": hour.retried,
                    "failed": hour.failed,
                }
                for hour in self.per_hour
            ],
            "destinations": self.by_destination,
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seconds_since(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else max((now - moment).total_seconds(), 0.0)


def assess(health: Health) -> tuple[State, list[str]]:
    """The state by the documented rule, and the reasons for it (empty when healthy)."""
    failing, degraded = [], []
    overdue = dt.timedelta(seconds=health.overdue or 0.0)
    if overdue >= OVERDUE_FAILING:
        failing.append(f"triggers have been due for {_span(overdue)}: is a flusher running?")
    elif overdue >= OVERDUE_DEGRADED:
        degraded.append(f"triggers have been due for {_span(overdue)}")
    waiting = _plural(health.waiting_retry, "trigger waits", "triggers wait") + " for a retry"
    failed = _plural(health.failed_last_hour, "trigger", "triggers") + " failed in the last hour"
    if (health.waiting_retry or health.failed_last_hour) and _not_getting_through(health):
        failing.append("nothing delivered since the latest error")
    if health.waiting_retry:
        degraded.append(waiting)
    if health.failed_last_hour:
        degraded.append(failed)
    if failing:
        return State.FAILING, failing + degraded
    if degraded:
        return State.DEGRADED, degraded
    return State.HEALTHY, []


def _plural(count: int, one: str, more: str) -> str:
    return f"{count} {one if count == 1 else more}"


def _not_getting_through(health: Health) -> bool:
    """The latest attempt failed, and nothing was delivered for FAILING_AFTER."""
    sent = health.last_sent_at
    if not health.error_unresolved:
        return False
    return sent is None or health.now - sent >= FAILING_AFTER


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


def collect(now: dt.datetime | None = None, using: str | None = None) -> Health:
    """Read the figures with five queries, none of which reads the sent history: the
    unfinished rows by index, the latest send by index, and the hourly counts."""
    now = now or timezone.now()
    triggers: QuerySet[Trigger] = Trigger.objects.using(using)
    unfinished = triggers.filter(status__in=(Status.PENDING, Status.SENDING)).aggregate(
        oldest=Min("created_at"),
        oldest_due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
        waiting_retry=Count("pk", filter=Q(status=Status.PENDING, attempts__gte=1)),
    )
    latest_error = counters.latest_error(using)
    per_hour = counters.per_hour(hour_starts(now), using)
    # After the tables of earlier migrations: a site upgraded but not migrated is told
    # of the oldest missing migration's table first (see unmigrated).
    by_destination = counts_by_destination(triggers)
    return Health(
        now=now,
        counts=totals(by_destination.values()),
        by_destination=by_destination,
        waiting_retry=unfinished["waiting_retry"],
        oldest_pending_at=unfinished["oldest"],
        oldest_due_at=unfinished["oldest_due"],
        last_sent_at=last_sent_at(triggers),
        latest_error=latest_error,
        per_hour=per_hour,
    )


def counts_by_status(triggers: QuerySet[Trigger]) -> dict[str, int]:
    """Triggers by status, for the statuses in COUNTED: read from the status index."""
    return totals(counts_by_destination(triggers).values())


def counts_by_destination(triggers: QuerySet[Trigger]) -> dict[str, dict[str, int]]:
    """Triggers by destination and status, for the statuses in COUNTED."""
    rows = (
        triggers.filter(status__in=COUNTED)
        .order_by()
        .values_list("destination", "status")
        .annotate(count=Count("pk"))
    )
    counts = {name: dict.fromkeys(map(str, COUNTED), 0) for name in configured()}
    for destination, status, count in rows:
        counts.setdefault(destination, dict.fromkeys(map(str, COUNTED), 0))[status] = count
    return counts


def count_due(using: str | None = None) -> int:
    """How many triggers a flusher could claim now."""
    return Trigger.objects.using(db_alias(using)).due().count()


def count_failed(using: str | None = None) -> int:
    return counts_by_status(Trigger.objects.using(db_alias(using)))[Status.FAILED]


def count_undelivered(using: str | None = None) -> int:
    """Triggers not yet delivered: pending (due or waiting for a retry) or being sent."""
    counts = counts_by_status(Trigger.objects.using(db_alias(using)))
    return counts[Status.PENDING] + counts[Status.SENDING]


def last_sent_at(triggers: QuerySet[Trigger]) -> dt.datetime | None:
    """When a trigger was last delivered: the newest entry of the (status, updated_at)
    index. A sent row's updated_at is its sent_at."""
    return (
        triggers.filter(status=Status.SENT)
        .order_by("-updated_at")
        .values_list("updated_at", flat=True)
        .first()
    )


def totals(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(map(str, COUNTED), 0)
    for each in counts:
        for status, count in each.items():
            total[status] += count
    return total


def hour_starts(now: dt.datetime) -> list[dt.datetime]:
    """The starts of the last HOURS hours in UTC, oldest first, the current one last."""
    current = counters.hour_of(now)
    return [current - dt.timedelta(hours=back) for back in range(HOURS - 1, -1, -1)]
