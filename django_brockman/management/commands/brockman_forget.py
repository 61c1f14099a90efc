"""manage.py brockman_forget: delete every stored trigger of one person (erasure requests)."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import CommandError

from django_brockman.erasure import forget_actor
from django_brockman.management.base import OutboxCommand


def identity(value: str) -> tuple[str, str]:
    key, sep, wanted = value.partition("=")
    if not sep or not key or not wanted:
        raise ArgumentTypeError(f"expected KEY=VALUE, e.g. email=ada@example.com, got {value!r}")
    return key, wanted


class Command(OutboxCommand):
    help = (
        "Delete every stored trigger of one person, pending ones included, and report "
        "how many a running flusher had already claimed."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--actor-id", help="The person's FocusLab actor id.")
        parser.add_argument(
            "--identity",
            type=identity,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A captured identity to match, e.g. email=ada@example.com (repeatable).",
        )
        parser.add_argument("--database", help="Database alias of the outbox.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["actor_id"] is None and not options["identity"]:
            raise CommandError("Give --actor-id, --identity KEY=VALUE, or both.")
        result = forget_actor(
            options["actor_id"],
            identities=options["identity"],
            using=options["database"],
        )
        self.stdout.write(f"Deleted {result.deleted} triggers.")
        if result.in_flight:
            self.stdout.write(
                self.style.WARNING(
                    f"{result.in_flight} of them had been claimed by a running flusher, "
                    "which may have sent them to FocusLab."
                )
            )
