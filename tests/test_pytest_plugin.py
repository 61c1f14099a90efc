"""The pytest plugin, as a user's suite meets it: installed through its entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

USER_TESTS = """
import pytest
from django.test import Client

from django_brockman import record_trigger


def test_view_recorded_this_trigger(brockman_triggers):
    Client().get("/record/")

    assert [(t.action, t.obj, t.actor_id) for t in brockman_triggers] == [
        ("viewed", "page", "actor-1")
    ]


def test_each_test_starts_empty(brockman_triggers):
    assert list(brockman_triggers) == []


@pytest.mark.django_db(transaction=True)
def test_transactional_test(brockman_triggers):
    record_trigger(None, "clicked", "button", actor_id="a")

    assert [t.action for t in brockman_triggers] == ["clicked"]


def test_a_wrong_expectation_fails(brockman_triggers):
    Client().get("/record/")

    assert len(brockman_triggers) == 2
"""


def test_plugin_fixture_is_available_without_any_configuration(tmp_path: Path) -> None:
    (tmp_path / "test_user_suite.py").write_text(USER_TESTS)
    test_db = settings.DATABASES["default"]["TEST"]["NAME"]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        # A test database of its own, apart from the one this suite is using.
        "BROCKMAN_TEST_SQLITE_FILE": str(tmp_path / "plugin.sqlite3"),
        "BROCKMAN_TEST_DB_TEST_NAME": f"{Path(str(test_db)).stem}_plugin",
    }

    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    summary = completed.stdout.strip().splitlines()[-1]
    assert "3 passed" in summary, completed.stdout + completed.stderr
    assert "1 failed" in summary
    assert "test_a_wrong_expectation_fails" in completed.stdout
    assert "fixture 'brockman_triggers' not found" not in completed.stdout
