"""The base class of django_brockman's commands: a missing outbox table is one line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, router

from django_brockman.models import Trigger
from django_brockman.unmigrated import EXIT_NOT_MIGRATED, is_missing_outbox_table, migrate_hint


class OutboxCommand(BaseCommand):
    """A command that uses the outbox: without its table, it says to migrate and exits 3."""

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            if not is_missing_outbox_table(exc):
                raise
            alias = options.get("database") or router.db_for_write(Trigger)
            raise CommandError(migrate_hint(alias), returncode=EXIT_NOT_MIGRATED) from None
