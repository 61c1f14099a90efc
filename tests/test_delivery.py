"""Deliverers and the Sender: who sends, when a request is refused, what comes back."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_brockman.backends.base import BaseBackend
from django_brockman.delivery import (
    Attempt,
    InlineDeliverer,
    Sender,
    ThreadedDeliverer,
    make_deliverer,
)
from django_brockman.exceptions import ServerError
from django_brockman.models import Status, Trigger


class Backend(BaseBackend):
    """Records who sent what; raises what it is told to for a given object."""

    def __init__(self, raises: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.raises = raises or {}
        self.delay = delay
        self.sent: list[tuple[str, str]] = []
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def close(self) -> None:
        self.closed += 1

    def send(self, trigger: Trigger) -> None:
        time.sleep(self.delay)
        if trigger.obj in self.raises:
            raise self.raises[trigger.obj]
        self.sent.append((threading.current_thread().name, trigger.obj))


def trigger(obj: str = "page", lease_left: float = 300.0) -> Trigger:
    """A claimed trigger, its lease ending in *lease_left* seconds."""
    return Trigger(
        actor_id="actor",
        action="viewed",
        obj=obj,
        status=Status.SENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=lease_left),
    )


def sender(halted: bool = False, margin: float = 11.0) -> Sender:
    return Sender(lambda: halted, timedelta(seconds=margin))


def test_sender_sends_and_reports_success() -> None:
    backend, item = Backend(), trigger()

    assert sender()(backend, item) == Attempt(item)
    assert backend.sent == [(threading.current_thread().name, "page")]


def test_sender_halted_sends_nothing() -> None:
    backend, item = Backend(), trigger()

    assert sender(halted=True)(backend, item) == Attempt(item, skipped=True)
    assert backend.sent == []


@pytest.mark.parametrize(("lease_left", "sends"), [(10.9, False), (11.5, True)])
def test_sender_refuses_request_that_could_outlive_lease(lease_left: float, sends: bool) -> None:
    backend, item = Backend(), trigger(lease_left=lease_left)

    attempt = sender(margin=11.0)(backend, item)

    assert attempt.skipped is not sends
    assert bool(backend.sent) is sends


def test_sender_focuslab_error_is_an_expected_error() -> None:
    error = ServerError(status=503)

    attempt = sender()(Backend(raises={"page": error}), trigger())

    assert (attempt.error, attempt.skipped, attempt.unexpected) == (error, False, False)


def test_sender_other_exception_is_unexpected() -> None:
    error = KeyError("bug")

    attempt = sender()(Backend(raises={"page": error}), trigger())

    assert (attempt.error, attempt.skipped, attempt.unexpected) == (error, False, True)


def test_inline_deliverer_sends_in_order_on_one_backend() -> None:
    backend = Backend()
    deliverer = InlineDeliverer(lambda: backend, sender())
    for n in range(3):
        deliverer.submit(trigger(f"page {n}"))

    groups = list(deliverer.results())
    deliverer.close()

    assert [[a.trigger.obj for a in group] for group in groups] == [
        ["page 0"],
        ["page 1"],
        ["page 2"],
    ]
    assert [obj for _, obj in backend.sent] == ["page 0", "page 1", "page 2"]
    assert (backend.opened, backend.closed, deliverer.in_flight) == (1, 1, 0)


def test_threaded_deliverer_one_backend_per_thread_all_closed() -> None:
    backends: list[Backend] = []

    def make() -> Backend:
        backends.append(Backend(delay=0.02))
        return backends[-1]

    deliverer = ThreadedDeliverer(make, sender(), 3)
    for n in range(12):
        deliverer.submit(trigger(f"page {n}"))

    attempts = [attempt for group in deliverer.results() for attempt in group]
    deliverer.close()

    assert sorted(a.trigger.obj for a in attempts) == sorted(f"page {n}" for n in range(12))
    assert len(backends) <= 3
    for backend in backends:
        assert len({thread for thread, _ in backend.sent}) <= 1
        assert backend.closed == 1


def test_threaded_deliverer_builds_a_backend_before_any_claim() -> None:
    def make() -> BaseBackend:
        raise ImproperlyConfigured("BROCKMAN_API_KEY is not set")

    with pytest.raises(ImproperlyConfigured):
        ThreadedDeliverer(make, sender(), 2)


def test_threaded_deliverer_backend_failing_in_thread_skips_with_error() -> None:
    made = iter(range(10))

    def make() -> BaseBackend:
        if next(made):
            raise OSError("no more sockets")
        return Backend(delay=0.3)

    deliverer = ThreadedDeliverer(make, sender(), 2)
    deliverer.submit(trigger("a"))
    deliverer.submit(trigger("b"))

    attempts = {a.trigger.obj: a for group in deliverer.results() for a in group}
    deliverer.close()

    failed = [a for a in attempts.values() if a.error is not None]
    assert len(failed) == 1
    assert failed[0].skipped
    assert failed[0].unexpected


def test_threaded_deliverer_yields_empty_groups_while_waiting() -> None:
    deliverer = ThreadedDeliverer(lambda: Backend(delay=0.4), sender(), 2, poll_seconds=0.05)
    deliverer.submit(trigger())

    groups = list(deliverer.results())
    deliverer.close()

    assert groups[-1]
    assert len(groups[-1]) == 1
    assert [] in groups[:-1]


@pytest.mark.parametrize(("concurrency", "kind"), [(1, InlineDeliverer), (4, ThreadedDeliverer)])
def test_make_deliverer_picks_by_concurrency(concurrency: int, kind: type) -> None:
    deliverer = make_deliverer(Backend, sender(), concurrency)
    deliverer.close()

    assert isinstance(deliverer, kind)
