"""Run management commands in their own processes, against this test's database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "process-test-key"


def command_env(endpoint: str = "", api_key: str = API_KEY, **settings: object) -> dict[str, str]:
    """The environment of a command process: this test database, and BROCKMAN_* settings
    (given without the prefix, JSON-encoded)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "BROCKMAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "BROCKMAN_API_KEY": api_key,
    }
    if endpoint:
        env["BROCKMAN_ENDPOINT"] = endpoint
    env.update((f"BROCKMAN_{name}", json.dumps(value)) for name, value in settings.items())
    return env


def command(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "django", name, *args]


def start(name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command(name, *args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(name, *args),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def sent_count(stdout: str) -> int:
    """How many triggers a brockman_flush run reported sent."""
    return sum(int(n) for n in re.findall(r"Flushed: (\d+) sent", stdout))
