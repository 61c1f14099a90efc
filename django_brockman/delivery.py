"""Deliverers: send claimed triggers through backends, one thread or many."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from django.utils import timezone

from django_brockman.exceptions import FocusLabError

if TYPE_CHECKING:
    from django_brockman.backends.base import BaseBackend
    from django_brockman.models import Trigger

# How long the threaded deliverer waits for a result before it yields an empty group, so
# the run can write back what it holds while slow requests are still in flight.
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Attempt:
    """What happened to one trigger handed to a deliverer.

    ``skipped`` means it was never sent (the run was halted first, or no backend could be
    made) and must be released. ``error`` is what sending raised: a FocusLabError, or
    any other exception when a backend has a bug.
    """

    trigger: Trigger
    error: Exception | None = None
    skipped: bool = False

    @property
    def unexpected(self) -> bool:
        """Whether the error is a bug rather than FocusLab's answer."""
        return self.error is not None and not isinstance(self.error, FocusLabError)


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

    halted: Callable[[], bool]
    # A request is started only if the lease outlives its longest possible duration,
    # so no trigger is ever sent by a flusher that may already have lost it.
    margin: timedelta
    now: Callable[[], datetime] = timezone.now
    # Whether *trigger* must go back unsent all the same (its destination was refused).
    skip: Callable[[Trigger], bool] = lambda trigger: False
    # Told of each failed attempt at once, in the delivery thread, so that a refusal
    # stops the other threads before the run has judged it.
    notice: Callable[[Attempt], None] = lambda attempt: None

    def __call__(self, backend: BaseBackend, trigger: Trigger) -> Attempt:
        if self.halted() or self.skip(trigger) or not trigger.is_held(self.now() + self.margin):
            return Attempt(trigger, skipped=True)
        try:
            backend.send(trigger)
        except Exception as exc:
            # Caught broadly so that a buggy backend cannot lose the results of the
            # other triggers in flight; the run decides what to do about it.
            attempt = Attempt(trigger, error=exc)
            self.notice(attempt)
            return attempt
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

    def __init__(
        self,
        make_backend: BackendFactory,
        send: Sender,
        concurrency: int,
        *,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.make_backend = make_backend
        self.poll_seconds = poll_seconds
        self.send = send
        self.local = threading.local()
        # Built here, in the caller's thread, so that a configuration error is raised
        # before anything is claimed; the first delivery thread takes it over.
        self.spare: list[BaseBackend] = [make_backend()]
        self.backends: list[BaseBackend] = list(self.spare)
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
        try:
            backend = self._backend()
        except Exception as exc:
            return Attempt(trigger, error=exc, skipped=True)
        return self.send(backend, trigger)

    def _backend(self) -> BaseBackend:
        backend: BaseBackend | None = getattr(self.local, "backend", None)
        if backend is None:
            with self.lock:
                backend = self.spare.pop() if self.spare else None
            if backend is None:
                backend = self.make_backend()
                with self.lock:
                    self.backends.append(backend)
            backend.open()
            self.local.backend = backend
        return backend

    def results(self) -> Iterator[list[Attempt]]:
        """Yield attempts as they complete, grouped, until nothing is in flight.

        A group may be empty: nothing completed within *poll_seconds*.
        """
        while self.submitted:
            try:
                done = [self.done.get(timeout=self.poll_seconds)]
            except queue.Empty:
                yield []
                continue
            with contextlib.suppress(queue.Empty):
                while len(done) < self.submitted:
                    done.append(self.done.get_nowait())
            self.submitted -= len(done)
            yield [future.result() for future in done]

    def close(self) -> None:
        # Anything still queued here was never collected: do not send it after the run.
        self.pool.shutdown(wait=True, cancel_futures=True)
        for backend in self.backends:
            backend.close()


def make_deliverer(
    make_backend: BackendFactory,
    send: Sender,
    concurrency: int,
    *,
    poll_seconds: float = POLL_SECONDS,
) -> Deliverer:
    if concurrency <= 1:
        return InlineDeliverer(make_backend, send)
    return ThreadedDeliverer(make_backend, send, concurrency, poll_seconds=poll_seconds)
