"""Signals django_brockman sends: hooks for code that wants to know a trigger's fate."""

from __future__ import annotations

from django.dispatch import Signal

#: Sent after the transaction that recorded a trigger commits. Arguments: ``trigger``.
trigger_recorded = Signal()

#: Sent by the flusher once FocusLab accepted a trigger. Arguments: ``trigger``.
trigger_sent = Signal()

#: Sent by the flusher when a trigger is given up on (dead-lettered). Arguments:
#: ``trigger`` and ``error`` (the last error, a string).
trigger_failed = Signal()
