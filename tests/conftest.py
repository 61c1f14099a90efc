"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

TRIGGER_URL = "https://focuslab.test/api/v1/trigger/"


@pytest.fixture
def mocked_api() -> Iterator[responses.RequestsMock]:
    """The FocusLab API, mocked: register answers with ``mocked_api.add(...)``."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
