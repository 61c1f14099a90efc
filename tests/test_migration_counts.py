"""Migration 0003 fills the last day's counts from the outbox, once."""

from __future__ import annotations

import datetime as dt
from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from django_brockman import counters
from django_brockman.models import DeliveryCount, Status, Trigger

pytestmark = pytest.mark.django_db

migration = import_module("django_brockman.migrations.0003_delivery_count")


class Editor:
    """What the migration's function reads of a schema editor."""

    connection = connection


def test_migration_counts_the_last_days_sends_and_failures_by_hour() -> None:
    now = timezone.now()
    for status, age in (
        (Status.SENT, dt.timedelta(minutes=1)),
        (Status.SENT, dt.timedelta(minutes=2)),
        (Status.SENT, dt.timedelta(hours=5)),
        (Status.FAILED, dt.timedelta(minutes=1)),
        (Status.SENT, dt.timedelta(hours=25)),  # too old
        (Status.PENDING, dt.timedelta(minutes=1)),
    ):
        Trigger.objects.create(
            actor_id="a", action="viewed", obj="p", status=status, updated_at=now - age
        )

    migration.count_the_last_day(apps, Editor())

    found = {row.hour: (row.sent, row.failed) for row in DeliveryCount.objects.all()}
    recent = {counters.hour_of(now - dt.timedelta(minutes=m)) for m in (1, 2)}
    assert sum(sent for sent, _ in found.values()) == 3
    assert sum(failed for _, failed in found.values()) == 1
    assert found[counters.hour_of(now - dt.timedelta(hours=5))] == (1, 0)
    assert set(found) == recent | {counters.hour_of(now - dt.timedelta(hours=5))}
