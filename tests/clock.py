"""FakeClock: time that moves only when a test says so, for tests of time without sleeps."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from django.utils import timezone


class FakeClock:
    """Starts at the real time of its making; advance() moves it, from any thread."""

    def __init__(self, start: datetime | None = None) -> None:
        self.start = start or timezone.now()
        self.elapsed = 0.0
        self.lock = threading.Lock()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep without sleeping: the time passes at once, unless *event* is set."""
        if not event.is_set():
            self.advance(seconds)
        return event.is_set()

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.elapsed += seconds
