"""manage.py brockman_status: the outbox's health figures, for people and for monitoring."""

from __future__ import annotations

import datetime as dt
import json
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError

from django_brockman import stats
from django_brockman.management.base import OutboxCommand
from django_brockman.stats import Health, State

# Exit statuses (docs/reference/commands.rst): the oldest undelivered trigger is older
# than --max-age; delivery is in the --fail-on state or worse.
EXIT_STALE = 1
EXIT_UNHEALTHY = 4


def seconds(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ArgumentTypeError(f"must not be negative, got {value}")
    return number


class Command(OutboxCommand):
    help = "Show the outbox's health: triggers by status, the oldest undelivered, recent sends."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
        parser.add_argument(
            "--max-age",
            type=seconds,
            metavar="SECONDS",
            help="Exit with status 1 when the oldest undelivered trigger is older.",
        )
        parser.add_argument(
            "--fail-on",
            choices=[State.DEGRADED.value, State.FAILING.value],
            help=f"Exit with status {EXIT_UNHEALTHY} when delivery is in this state or worse "
            "(after printing the figures, --json included).",
        )
        parser.add_argument("--database", help="Database alias of the outbox.")

    def handle(self, *args: Any, **options: Any) -> None:
        health = stats.collect(using=options["database"])
        if options["json"]:
            self.stdout.write(json.dumps(health.as_dict(), indent=2))
        else:
            self.stdout.write(describe(health))
        max_age = options["max_age"]
        age = health.oldest_pending_age
        if max_age is not None and age is not None and age > max_age:
            raise CommandError(
                f"The oldest undelivered trigger is {age:.0f} seconds old "
                f"(more than {max_age:g}).",
                returncode=EXIT_STALE,
            )
        fail_on = options["fail_on"]
        state = health.state
        if fail_on is not None and state.rank >= State(fail_on).rank:
            raise CommandError(
                f"Delivery is {state.value}: {'; '.join(health.assessment[1])}.",
                returncode=EXIT_UNHEALTHY,
            )


def describe(health: Health) -> str:
    state, reasons = health.assessment
    counts = ", ".join(f"{count} {status}" for status, count in health.counts.items())
    age = health.oldest_pending_age
    oldest = "none" if age is None else f"{age:.0f} seconds old"
    error = health.latest_error
    lines = [
        f"Delivery: {state.value}" + (f" ({'; '.join(reasons)})." if reasons else "."),
        f"Triggers: {counts}; {health.waiting_retry} waiting for a retry.",
        f"Oldest undelivered: {oldest}.",
        f"Last delivered: {_when(health.last_sent_at)}.",
        f"Latest error: {f'{error.text} ({_when(error.at)})' if error else 'none'}.",
        f"Last 24 hours: {health.sent_last_24h} sent, {health.retried_last_24h} to retry, "
        f"{health.failed_last_24h} failed.",
        "Per hour (UTC), sent/failed attempts: "
        + " ".join(f"{hour.start:%H}h={hour.sent}/{hour.failures}" for hour in health.per_hour),
    ]
    for name, each in health.by_destination.items():
        counts = ", ".join(f"{count} {status}" for status, count in each.items())
        lines.append(f"Destination {name}: {counts}.")
    return "\n".join(lines)


def _when(moment: dt.datetime | None) -> str:
    return "never" if moment is None else moment.isoformat()
