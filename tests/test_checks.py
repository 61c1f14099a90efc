"""System checks: each setting's mistakes, with an id, and never the key's value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from django_brockman.checks import check_settings

ROOT = Path(__file__).resolve().parent.parent


def ids() -> list[str]:
    return [message.id for message in check_settings()]  # type: ignore[misc]


def test_check_settings_passes_with_valid_settings() -> None:
    assert check_settings() == []


@pytest.mark.parametrize("key", ["", None])
def test_check_api_key_missing_is_e001(key: str | None) -> None:
    with override_settings(BROCKMAN_API_KEY=key):
        assert ids() == ["brockman.E001"]


def test_check_api_key_unset_is_e001(settings: object) -> None:
    del settings.BROCKMAN_API_KEY  # type: ignore[attr-defined]
    assert ids() == ["brockman.E001"]


@override_settings(BROCKMAN_API_KEY="", BROCKMAN_BACKEND="tests.test_checks.NotHttp")
def test_check_api_key_not_needed_by_other_backends() -> None:
    assert ids() == []


class NotHttp:
    pass


@override_settings(BROCKMAN_API_KEY=12345)
def test_check_api_key_wrong_type_is_e002_without_value() -> None:
    messages = check_settings()
    assert [m.id for m in messages] == ["brockman.E002"]
    assert "12345" not in str(messages[0])


@pytest.mark.parametrize("endpoint", ["focuslab.test/api/", "ftp://x/", 42])
def test_check_endpoint_invalid_is_e003(endpoint: object) -> None:
    with override_settings(BROCKMAN_ENDPOINT=endpoint):
        assert ids() == ["brockman.E003"]


@override_settings(BROCKMAN_BACKEND="no.such.Backend")
def test_check_backend_unimportable_is_e004() -> None:
    assert ids() == ["brockman.E004"]


@override_settings(BROCKMAN_API_KEY="", BROCKMAN_BACKEND="no.such.Backend")
def test_check_backend_unimportable_reports_only_e004_without_key() -> None:
    # Whether the backend needs a key is unknown until it imports: one error, not two.
    assert ids() == ["brockman.E004"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BROCKMAN_TIMEOUT", 0),
        ("BROCKMAN_TIMEOUT", "10"),
        ("BROCKMAN_BATCH_SIZE", 1.5),
        ("BROCKMAN_CONCURRENCY", 0),
        ("BROCKMAN_MAX_ATTEMPTS", True),
        ("BROCKMAN_RETRY_BASE_SECONDS", -1),
        ("BROCKMAN_MAX_PAYLOAD_BYTES", None),
    ],
)
def test_check_numbers_invalid_is_e005(name: str, value: object) -> None:
    with override_settings(**{name: value}):
        messages = check_settings()
    assert [m.id for m in messages] == ["brockman.E005"]
    assert name in messages[0].msg


@override_settings(BROCKMAN_LEASE_SECONDS=10, BROCKMAN_TIMEOUT=10)
def test_check_lease_shorter_than_timeout_is_e006() -> None:
    assert ids() == ["brockman.E006"]


def test_manage_py_check_fails_without_api_key_and_hides_it(tmp_path: Path) -> None:
    settings_module = tmp_path / "nokey_settings.py"
    settings_module.write_text(
        "from tests.settings import *\nBROCKMAN_API_KEY = ''\n", encoding="utf-8"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env={
            "PYTHONPATH": f"{ROOT}:{tmp_path}",
            "DJANGO_SETTINGS_MODULE": "nokey_settings",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "brockman.E001" in completed.stderr


def test_manage_py_check_passes_with_api_key() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "django", "check"],
        cwd=ROOT,
        env={
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "test-api-key" not in completed.stdout + completed.stderr
