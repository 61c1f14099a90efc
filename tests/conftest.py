"""Fixtures shared by the test modules."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest
import responses
from asgiref.sync import async_to_sync

T = TypeVar("T")

TRIGGER_URL = "https://focuslab.test/api/v1/trigger/"


@pytest.fixture
def mocked_api() -> Iterator[responses.RequestsMock]:
    """The FocusLab API, mocked: register answers with ``mocked_api.add(...)``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def run_async(awaitable: Awaitable[T]) -> T:
    """Run *awaitable* to completion from a sync test.

    asgiref's async_to_sync runs the async ORM's thread hops back in this thread, so
    async code sees the test's database connection and transaction.
    """

    async def wait() -> T:
        return await awaitable

    return async_to_sync(wait)()


@pytest.fixture
def dead_endpoint() -> Iterator[str]:
    """An endpoint on 127.0.0.1 where nothing listens: connecting is refused.

    The port stays bound (not listening) meanwhile, so no other process takes it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}/api/v1/"
