"""The outbox's health in figures, for the admin's health page and brockman_status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

from django_brockman.destinations import configured
from django_brockman.models import Status, Trigger

HOURS = 24
# Counted over all time. Sent rows are counted over the last HOURS only: their history
# grows without bound until purged, and counting all of it would read every row.
COUNTED = (Status.PENDING, Status.SENDING, Status.FAILED)


@dataclass(frozen=True)
class HourCount:
    """Triggers sent in the hour that starts at *start* (UTC)."""

    start: dt.datetime
    count: int


@dataclass(frozen=True)
class Health:
    """The figures, read at *now*."""

    now: dt.datetime
    # Triggers by status, for the statuses in COUNTED.
    counts: dict[str, int]
    # The creation time of the oldest trigger not delivered yet (pending or sending).
    oldest_pending_at: dt.datetime | None
    failed_last_24h: int
    sent_per_hour: list[HourCount]
    # The counts of each destination: every configured one, and any other name rows
    # still carry (a destination removed from the settings, whose rows wait).
    by_destination: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def oldest_pending_age(self) -> float | None:
        """Seconds since the oldest undelivered trigger was recorded."""
        if self.oldest_pending_at is None:
            return None
        return max((self.now - self.oldest_pending_at).total_seconds(), 0.0)

    @property
    def sent_last_24h(self) -> int:
        return sum(hour.count for hour in self.sent_per_hour)

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values, for monitoring systems."""
        oldest = self.oldest_pending_at
        return {
            "now": self.now.isoformat(),
            "counts": self.counts,
            "oldest_pending_at": oldest.isoformat() if oldest else None,
            "oldest_pending_age_seconds": self.oldest_pending_age,
            "failed_last_24h": self.failed_last_24h,
            "sent_last_24h": self.sent_last_24h,
            "sent_per_hour": [
                {"hour": hour.start.isoformat(), "count": hour.count}
                for hour in self.sent_per_hour
            ],
            "destinations": self.by_destination,
        }


def collect(now: dt.datetime | None = None, using: str | None = None) -> Health:
    """Read the figures with four aggregate queries, each served by an index on status.

    Each reads only unfinished rows, recent failures or the last day's sends, so the
    cost does not grow with the history of sent triggers.
    """
    now = now or timezone.now()
    triggers: QuerySet[Trigger] = Trigger.objects.using(using)
    by_destination = counts_by_destination(triggers)
    return Health(
        now=now,
        counts=totals(by_destination.values()),
        by_destination=by_destination,
        oldest_pending_at=triggers.filter(status__in=(Status.PENDING, Status.SENDING)).aggregate(
            oldest=Min("created_at")
        )["oldest"],
        failed_last_24h=triggers.filter(
            status=Status.FAILED, updated_at__gte=now - dt.timedelta(hours=HOURS)
        ).count(),
        sent_per_hour=sent_per_hour(triggers, now),
    )


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


def totals(counts: Iterable[dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(map(str, COUNTED), 0)
    for each in counts:
        for status, count in each.items():
            total[status] += count
    return total


def hour_starts(now: dt.datetime) -> list[dt.datetime]:
    """The starts of the last HOURS hours in UTC, oldest first, the current one last."""
    current = now.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return [current - dt.timedelta(hours=back) for back in range(HOURS - 1, -1, -1)]


def sent_per_hour(triggers: QuerySet[Trigger], now: dt.datetime) -> list[HourCount]:
    starts = hour_starts(now)
    ends: list[dt.datetime | None] = [*starts[1:], None]
    # One pass over the (status, updated_at) index range of the last day, counting into
    # 24 buckets; only indexed columns are read, so PostgreSQL needs no table access.
    # A sent row's updated_at is its sent_at.
    buckets = {
        f"hour_{index}": Count("updated_at", filter=_within(start, end))
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    }
    counts = triggers.filter(status=Status.SENT, updated_at__gte=starts[0]).aggregate(**buckets)
    return [HourCount(start, counts[f"hour_{index}"]) for index, start in enumerate(starts)]


def _within(start: dt.datetime, end: dt.datetime | None) -> Q:
    return (
        Q(updated_at__gte=start) if end is None else Q(updated_at__gte=start, updated_at__lt=end)
    )
