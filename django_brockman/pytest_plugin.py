"""A pytest plugin, loaded through the ``pytest11`` entry point: the brockman_triggers fixture."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from django_brockman.testing import CapturedTriggers


@pytest.fixture
def brockman_triggers(db: None) -> Iterator[CapturedTriggers]:
    """The triggers recorded during the test, oldest first (needs pytest-django)."""
    # Imported here: pytest loads this plugin before Django is set up.
    from django_brockman.testing import capture_triggers

    with capture_triggers() as triggers:
        yield triggers
