"""The base class of django_brockman's commands: a missing table is one line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, router

from django_brockman.models import Trigger
from django_brockman.unmigrated import EXIT_NOT_MIGRATED, migrate_hint, missing_table


class OutboxCommand(BaseCommand):
    """A command that uses the outbox: without its table, it says to migrate and exits 3."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            table = missing_table(exc)
            if table is None:
                raise
            alias = options.get("database") or router.db_for_write(Trigger)
            hint = migrate_hint(alias, table)
            raise CommandError(hint, returncode=EXIT_NOT_MIGRATED) from None
