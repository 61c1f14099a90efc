"""manage.py brockman_purge: delete old sent (or failed) triggers from the outbox."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from datetime import timedelta
from typing import Any

from django.core.management.base import CommandError
from django.db import connections

from django_brockman.management.arguments import positive_int
from django_brockman.management.base import OutboxCommand
from django_brockman.purge import DEFAULT_BATCH_SIZE, Finished, purge

# A century: further back than any database's dates, and within timedelta's range.
MAX_DAYS = 36500


def days(value: str) -> float:
    number = float(value)
    if not 0 <= number <= MAX_DAYS:  # also refuses nan
        raise ArgumentTypeError(f"must be from 0 to {MAX_DAYS}, got {value}")
    return number


class Command(OutboxCommand):
    help = (
        "Delete sent or failed triggers older than a number of days. Never touches pending ones."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--older-than",
            type=days,
            required=True,
            metavar="DAYS",
            help="Delete triggers finished more than DAYS days ago (decimals allowed).",
        )
        parser.add_argument(
            "--status",
            choices=[choice.value for choice in Finished],
            default=Finished.SENT.value,
            help="Which finished triggers to delete (default: sent).",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Rows per DELETE (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument("--database", help="Database alias of the outbox.")

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if using is not None and using not in connections:
            raise CommandError(f"No database {using!r} in DATABASES.", returncode=3)
        status = Finished(options["status"])
        count = purge(
            timedelta(days=options["older_than"]),
            status,
            batch_size=options["batch_size"],
            using=using,
        )
        label = "sent and failed" if status is Finished.ALL else status.value
        self.stdout.write(f"Deleted {count} {label} triggers.")
