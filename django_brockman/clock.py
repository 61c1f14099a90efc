"""Clock: the flusher's sense of time, injected so that tests of time need not sleep."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Protocol

from django.utils import timezone


class Clock(Protocol):
    def now(self) -> datetime:
        """The wall-clock time: what leases and due times are compared with."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start, never going back: for durations."""

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep *seconds* or until *event* is set; return whether it is set."""


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


SYSTEM_CLOCK = SystemClock()
