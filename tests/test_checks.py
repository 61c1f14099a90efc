"""System checks: each setting's mistakes, with an id, and never the key's value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from django_brockman.checks import check_deploy_settings, check_settings

ROOT = Path(__file__).resolve().parent.parent


def ids() -> list[str]:
    return [message.id for message in check_settings()]  # type: ignore[misc]


def test_check_settings_passes_with_valid_settings() -> None:
    assert check_settings() == []


def deploy_ids() -> list[str]:
    return [message.id for message in check_deploy_settings()]  # type: ignore[misc]


@pytest.mark.parametrize("key", ["", None])
def test_check_api_key_missing_is_e001_at_deploy_only(key: str | None) -> None:
    with override_settings(BROCKMAN_API_KEY=key):
        assert deploy_ids() == ["brockman.E001"]
        assert ids() == []


def test_check_api_key_unset_is_e001_at_deploy_only(settings: object) -> None:
    del settings.BROCKMAN_API_KEY  # type: ignore[attr-defined]
    assert deploy_ids() == ["brockman.E001"]
    assert ids() == []


def test_check_api_key_missing_is_registered_as_a_deploy_check(settings: object) -> None:
    del settings.BROCKMAN_API_KEY  # type: ignore[attr-defined]

    def brockman(**kwargs: Any) -> list[str]:
        return [m.id for m in run_checks(**kwargs) if m.id.startswith("brockman.")]  # type: ignore[union-attr]

    assert brockman() == []
    assert brockman(include_deployment_checks=True) == ["brockman.E001"]


def test_check_api_key_present_passes() -> None:
    assert deploy_ids() == []


@override_settings(BROCKMAN_API_KEY="", BROCKMAN_BACKEND="tests.test_checks.NotHttp")
def test_check_api_key_not_needed_by_other_backends() -> None:
    assert deploy_ids() == []


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
    assert deploy_ids() == []


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


@pytest.mark.parametrize("limit", [0, -5, 2.5, "100", True])
def test_check_task_limit_invalid_is_e030(limit: object) -> None:
    with override_settings(BROCKMAN_TASK_LIMIT=limit):
        assert ids() == ["brockman.E030"]


@pytest.mark.parametrize("limit", [None, 1, 5000])
def test_check_task_limit_valid_passes(limit: int | None) -> None:
    with override_settings(BROCKMAN_TASK_LIMIT=limit):
        assert ids() == []


@pytest.mark.parametrize("seconds", [0, -1, None, "50", False])
def test_check_task_max_seconds_invalid_is_e031(seconds: object) -> None:
    with override_settings(BROCKMAN_TASK_MAX_SECONDS=seconds):
        assert ids() == ["brockman.E031"]


@override_settings(BROCKMAN_TASK_MAX_SECONDS=0.5)
def test_check_task_max_seconds_fraction_passes() -> None:
    assert ids() == []


def manage_without_key(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py with the test settings less BROCKMAN_API_KEY, as on a fresh checkout."""
    (tmp_path / "nokey_settings.py").write_text(
        "from tests.settings import *\ndel BROCKMAN_API_KEY\n", encoding="utf-8"
    )
    (tmp_path / "nokey_tests.py").write_text(
        "from django.test import SimpleTestCase\n\n"
        "class Passes(SimpleTestCase):\n    def test_passes(self):\n        pass\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=tmp_path,
        env={
            "PYTHONPATH": f"{ROOT}:{tmp_path}",
            "DJANGO_SETTINGS_MODULE": "nokey_settings",
            "BROCKMAN_TEST_DB_NAME": str(tmp_path / "db.sqlite3"),
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "args", [["check"], ["migrate", "--no-input"], ["test", "nokey_tests"]], ids=str
)
def test_manage_py_runs_without_api_key(tmp_path: Path, args: list[str]) -> None:
    completed = manage_without_key(tmp_path, *args)

    assert completed.returncode == 0, completed.stderr
    assert "brockman.E001" not in completed.stdout + completed.stderr


def test_manage_py_check_deploy_fails_without_api_key(tmp_path: Path) -> None:
    completed = manage_without_key(tmp_path, "check", "--deploy")

    assert completed.returncode == 1
    assert "brockman.E001" in completed.stderr
    assert "django_brockman.backends.console.ConsoleBackend" in completed.stderr
    assert "python -m django_brockman.receiver --api-key" in completed.stderr


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


@pytest.mark.parametrize("name", ["", "fl actor", "fl;id", 7, None])
def test_check_actor_cookie_invalid_is_e010(name: object) -> None:
    with override_settings(BROCKMAN_ACTOR_COOKIE=name):
        assert ids() == ["brockman.E010"]


@pytest.mark.parametrize(
    ("setting", "error_id"),
    [("BROCKMAN_IDENTITIES", "brockman.E011"), ("BROCKMAN_CONSENT", "brockman.E012")],
)
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no.such.function", "cannot be imported"),
        ("django_brockman.conf.DEFAULT_ENDPOINT", "is not callable"),
        (len, "must be a dotted path to a callable or None, not builtin_function_or_method"),
    ],
)
def test_check_callable_settings_invalid(
    setting: str, error_id: str, value: object, message: str
) -> None:
    with override_settings(**{setting: value}):
        messages = check_settings()
    assert [m.id for m in messages] == [error_id]
    assert message in messages[0].msg


@override_settings(
    BROCKMAN_IDENTITIES=None, BROCKMAN_CONSENT="django_brockman.consent.honour_do_not_track"
)
def test_check_callable_settings_accept_none_and_built_ins() -> None:
    assert ids() == []


@pytest.mark.parametrize("value", ["False", 0, None])
def test_check_enabled_not_bool_is_e013(value: object) -> None:
    with override_settings(BROCKMAN_ENABLED=value):
        messages = check_settings()
    assert [m.id for m in messages] == ["brockman.E013"]
    assert "BROCKMAN_ENABLED" in messages[0].msg


@pytest.mark.parametrize("value", ["when-needed", True, False])
def test_check_set_actor_cookie_accepts_its_three_values(value: object) -> None:
    with override_settings(BROCKMAN_SET_ACTOR_COOKIE=value):
        assert ids() == []


@pytest.mark.parametrize("value", ["False", "always", "WHEN-NEEDED", 0, 1, None])
def test_check_set_actor_cookie_invalid_is_e015(value: object) -> None:
    with override_settings(BROCKMAN_SET_ACTOR_COOKIE=value):
        messages = check_settings()
    assert [m.id for m in messages] == ["brockman.E015"]
    assert "BROCKMAN_SET_ACTOR_COOKIE must be 'when-needed', True or False" in messages[0].msg


@pytest.mark.parametrize("value", [True, False, ["user_logged_in"], ("user_login_failed",)])
def test_check_auth_hooks_accepts_bools_and_names(value: object) -> None:
    with override_settings(BROCKMAN_AUTH_HOOKS=value):
        assert ids() == []


@pytest.mark.parametrize("value", ["user_logged_in", ["user_signed_up"], 1, None])
def test_check_auth_hooks_invalid_is_e014(value: object) -> None:
    with override_settings(BROCKMAN_AUTH_HOOKS=value):
        assert ids() == ["brockman.E014"]


@pytest.mark.parametrize("value", [True, "when-needed"])
def test_check_set_actor_cookie_without_middleware_is_w010(settings: Any, value: object) -> None:
    settings.BROCKMAN_SET_ACTOR_COOKIE = value
    assert ids() == []

    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "brockman" not in m]
    assert ids() == ["brockman.W010"]


def test_check_default_set_actor_cookie_without_middleware_is_no_warning(settings: Any) -> None:
    # A site that records with explicit actor ids needs no middleware.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "brockman" not in m]
    assert ids() == []


def test_check_set_actor_cookie_off_without_middleware_is_no_warning(settings: Any) -> None:
    settings.BROCKMAN_SET_ACTOR_COOKIE = False
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "brockman" not in m]
    assert ids() == []
