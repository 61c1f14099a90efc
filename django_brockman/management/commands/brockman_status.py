"""manage.py brockman_status: the outbox's health figures, for people and for monitoring."""

from __future__ import annotations

import json
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError

from django_brockman import stats
from django_brockman.management.base import OutboxCommand
from django_brockman.stats import Health

# Exit status when the oldest undelivered trigger is older than --max-age (README.rst).
EXIT_STALE = 1


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


def describe(health: Health) -> str:
    counts = ", ".join(f"{count} {status}" for status, count in health.counts.items())
    age = health.oldest_pending_age
    oldest = "none" if age is None else f"{age:.0f} seconds old"
    lines = [
        f"Triggers: {counts}.",
        f"Oldest undelivered: {oldest}.",
        f"Last 24 hours: {health.sent_last_24h} sent, {health.failed_last_24h} failed.",
        "Sent per hour (UTC): "
        + " ".join(f"{hour.start:%H}h={hour.count}" for hour in health.sent_per_hour),
    ]
    for name, each in health.by_destination.items():
        counts = ", ".join(f"{count} {status}" for status, count in each.items())
        lines.append(f"Destination {name}: {counts}.")
    return "\n".join(lines)
