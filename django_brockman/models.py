"""The outbox: one Trigger row per recorded trigger, and the queries that find due rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models, router
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_brockman.payload import TriggerData


class Status(models.TextChoices):
    """Where a trigger is: pending (due at ``next_attempt_at``), sending (claimed under a
    lease), sent, or failed (given up on, with its ``last_error``)."""

    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


def held_at(now: datetime) -> models.Q:
    """Rows under a flusher's lease at *now*: claimed, and the lease not yet over.

    A sending row's ``next_attempt_at`` is its lease's end (see Trigger.lease_ends_at).
    A flusher starts a request only while the lease outlives the request's timeout, so
    once the lease has passed, nothing is in flight and the row is due again.
    """
    return models.Q(status=Status.SENDING, next_attempt_at__gt=now)


# The six recorded fields, in TriggerData's order.
FIELDS = ("actor_id", "action", "obj", "identities", "attributes", "variables")


class TriggerQuerySet(models.QuerySet["Trigger"]):
    def due(self, now: datetime | None = None) -> TriggerQuerySet:
        """Rows a flusher may claim: pending and due, or sending with an expired lease.

        For a row being sent, ``next_attempt_at`` is the end of its flusher's lease, so
        one index on (status, next_attempt_at) serves both cases.
        """
        now = now or timezone.now()
        return self.filter(
            status__in=(Status.PENDING, Status.SENDING), next_attempt_at__lte=now
        ).order_by("next_attempt_at", "id")

    def held(self, now: datetime | None = None) -> TriggerQuerySet:
        """Rows a running flusher holds under its lease, and may be sending right now."""
        return self.filter(held_at(now or timezone.now()))

    def not_held(self, now: datetime | None = None) -> TriggerQuerySet:
        """Rows no flusher holds: free for an operator's action or an erasure."""
        return self.exclude(held_at(now or timezone.now()))

    def finished(self) -> TriggerQuerySet:
        return self.filter(status__in=(Status.SENT, Status.FAILED))


class Trigger(models.Model):
    """One analytics trigger waiting for, or done with, delivery to FocusLab."""

    uuid = models.UUIDField(
        _("UUID"),
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text=_("Sent as the Idempotency-Key header, the same on every attempt."),
    )
    actor_id = models.CharField(_("actor id"), max_length=255)
    action = models.CharField(_("action"), max_length=255)
    obj = models.CharField(_("object"), max_length=255)
    identities = models.JSONField(_("identities"), default=dict, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    # The database keeps the default too, so that a process of the previous release can
    # still insert during a rolling upgrade, and adding the column rewrites no table.
    destination = models.CharField(
        _("destination"),
        max_length=64,
        default="default",
        db_default="default",
        help_text=_("The BROCKMAN_DESTINATIONS entry whose key and endpoint deliver it."),
    )

    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(
        _("next attempt at"),
        default=timezone.now,
        help_text=_("When a pending trigger is due; for one being sent, when its lease ends."),
    )
    claim_token = models.UUIDField(_("claim token"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True)

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = TriggerQuerySet.as_manager()

    class Meta:
        verbose_name = _("trigger")
        verbose_name_plural = _("triggers")
        indexes = [
            # Serves the claim query where brockman_queue_idx is not built (SQLite,
            # MariaDB, MySQL): leading with status keeps the sent history out of the scan
            # however large it grows; the due rows are then sorted.
            models.Index(fields=["status", "next_attempt_at"], name="brockman_due_idx"),
            # brockman_queue_idx, the claim query in its own order over pending and
            # leased rows only, is built on PostgreSQL by migration 0002 and declared
            # nowhere else (migration 0004 takes it out of the model state): a partial
            # index declared here would make Django warn (models.W037) on every
            # command on MariaDB and MySQL, which have no partial indexes.
            # Serves purge (old finished rows) and the health figures (recent sends and
            # failures).
            models.Index(fields=["status", "updated_at"], name="brockman_finished_idx"),
            models.Index(fields=["actor_id"], name="brockman_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.obj} by {self.actor_id} ({self.status})"

    @property
    def lease_ends_at(self) -> datetime | None:
        """When the flusher holding this trigger loses it; None when none holds it."""
        return self.next_attempt_at if self.status == Status.SENDING else None

    def is_held(self, now: datetime) -> bool:
        """Whether a flusher's lease on this trigger still runs at *now*."""
        return self.status == Status.SENDING and self.next_attempt_at > now

    def data(self) -> TriggerData:
        """The trigger's six fields, as the wire and the backends take them."""
        return TriggerData(
            actor_id=self.actor_id,
            action=self.action,
            obj=self.obj,
            identities=self.identities,
            attributes=self.attributes,
            variables=self.variables,
        )

    def payload(self) -> dict[str, Any]:
        """The trigger's fields as keyword arguments of the client's record_trigger()."""
        data = self.data()
        return {name: getattr(data, name) for name in FIELDS}


def db_alias(using: str | None = None) -> str:
    """The database of the outbox: *using*, or where the router writes triggers."""
    return using or router.db_for_write(Trigger)


class DeliveryCount(models.Model):
    """Delivery results of one clock hour (UTC), counted as they are written back.

    A flusher adds to one of several rows per hour (its *shard*, picked from its claim),
    in the same transaction as the status change it counts, so concurrent flushers do
    not queue on one row and a count is committed, or rolled back, with its rows. The
    health figures read these few rows instead of the outbox's history.
    """

    hour = models.DateTimeField(_("hour"))
    shard = models.PositiveSmallIntegerField(_("shard"))
    sent = models.PositiveBigIntegerField(_("sent"), default=0)
    retried = models.PositiveBigIntegerField(_("retried"), default=0)
    failed = models.PositiveBigIntegerField(_("failed"), default=0)
    # The latest error written back through this row, and when.
    last_error = models.TextField(_("last error"), blank=True)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery count")
        verbose_name_plural = _("delivery counts")
        constraints = [
            models.UniqueConstraint(fields=["hour", "shard"], name="brockman_count_hour_shard")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}:00 #{self.shard}: {self.sent} sent"
