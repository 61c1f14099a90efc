"""Environments for worker processes started by tests: the test database, a receiver."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "worker-secret-key"


def worker_env(receiver_url: str, **settings: object) -> dict[str, str]:
    """The environment of a process that delivers to *receiver_url* from this test's
    database; *settings* become BROCKMAN_* settings (as JSON) in that process."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "BROCKMAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "BROCKMAN_API_KEY": API_KEY,
        "BROCKMAN_ENDPOINT": receiver_url,
        **{f"BROCKMAN_{name}": json.dumps(value) for name, value in settings.items()},
    }
