"""Deliverers: send claimed triggers through backends, one thread or many."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from django.utils import timezone

from django_brockman.exceptions import FocusLabError

if TYPE_CHECKING:
    from django_brockman.backends.base import BaseBackend
    from django_brockman.models import Trigger


@dataclass(frozen=True)
class Attempt:
    """What happened to one trigger handed to a deliverer.

    ``skipped`` means it was never sent (the run was halted first) and must be released.
    """

    trigger: Trigger
    error: FocusLabError | None = None
    skipped: bool = False


BackendFactory = Callable[[], "BaseBackend"]


class Deliverer(Protocol):
    @property
    def in_flight(self) -> int: ...

    def submit(self, trigger: Trigger) -> None: ...

    def results(self) -> Iterator[list[Attempt]]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Sender:
    """Sends one trigger, unless the run is halted or its lease is about to end."""

    halt: threading.Event
    # A request is started only if the lease outlives its longest possible duration,
    # so no trigger is ever sent by a flusher that may already have lost it.
    margin: timedelta

    def __call__(self, backend: BaseBackend, trigger: Trigger) -> Attempt:
        if self.halt.is_set() or timezone.now() + self.margin >= trigger.next_attempt_at:
            return Attempt(trigger, skipped=True)
        try:
            backend.send(trigger)
        except FocusLabError as exc:
            return Attempt(trigger, error=exc)
        return Attempt(trigger)


class InlineDeliverer:
    """Send from the calling thread, one request at a time."""

    def __init__(self, make_backend: BackendFactory, send: Sender) -> None:
        self.backend = make_backend()
        self.backend.open()
        self.send = send
        self.queue: deque[Trigger] = deque()

    @property
    def in_flight(self) -> int:
        return len(self.queue)

    def submit(self, trigger: Trigger) -> None:
        self.queue.append(trigger)

    def results(self) -> Iterator[list[Attempt]]:
        """Yield attempts in small groups until nothing is queued."""
        while self.queue:
            trigger = self.queue.popleft()
            yield [self.send(self.backend, trigger)]

    def close(self) -> None:
        self.backend.close()


class ThreadedDeliverer:
    """Keep up to *concurrency* requests in flight, each thread with its own backend."""

    def __init__(self, make_backend: BackendFactory, send: Sender, concurrency: int) -> None:
        self.make_backend = make_backend
        self.send = send
        self.local = threading.local()
        self.backends: list[BaseBackend] = []
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="brockman")
        # Finished sends arrive here. Waiting on the queue costs the same however many
        # sends are queued, where concurrent.futures.wait() visits every one of them.
        self.done: queue.SimpleQueue[Future[Attempt]] = queue.SimpleQueue()
        self.submitted = 0

    @property
    def in_flight(self) -> int:
        return self.submitted

    def submit(self, trigger: Trigger) -> None:
        self.pool.submit(self._send, trigger).add_done_callback(self.done.put)
        self.submitted += 1

    def _send(self, trigger: Trigger) -> Attempt:
        backend: BaseBackend | None = getattr(self.local, "backend", None)
        if backend is None:
            backend = self.local.backend = self.make_backend()
            backend.open()
            with self.lock:
                self.backends.append(backend)
        return self.send(backend, trigger)

    def results(self) -> Iterator[list[Attempt]]:
        """Yield attempts as they complete, grouped, until nothing is in flight."""
        while self.submitted:
            done = [self.done.get()]
            with contextlib.suppress(queue.Empty):
                while len(done) < self.submitted:
                    done.append(self.done.get_nowait())
            self.submitted -= len(done)
            yield [future.result() for future in done]

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for backend in self.backends:
            backend.close()


def make_deliverer(make_backend: BackendFactory, send: Sender, concurrency: int) -> Deliverer:
    if concurrency <= 1:
        return InlineDeliverer(make_backend, send)
    return ThreadedDeliverer(make_backend, send, concurrency)
