"""Settings for the test suite. BROCKMAN_TEST_DB picks the database: sqlite (default),
postgres or mariadb."""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The admin tests create users; a slow hasher would cost a third of a second each.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_brockman",
    "tests.testapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_brockman.middleware.BrockmanMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# Django Tasks: built into Django 6.0+, the django-tasks backport on Django 5.2. The
# "database" backend (django-tasks-db) is the one db_worker runs in the tests.
_TASKS_PACKAGE = next((name for name in ("django.tasks", "django_tasks") if find_spec(name)), None)
if _TASKS_PACKAGE is not None:
    if _TASKS_PACKAGE == "django_tasks":
        INSTALLED_APPS.append("django_tasks")
    TASKS = {"default": {"BACKEND": f"{_TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}
    if find_spec("django_tasks_db"):
        INSTALLED_APPS.append("django_tasks_db")
        TASKS["database"] = {"BACKEND": "django_tasks_db.DatabaseBackend"}

BROCKMAN_API_KEY = "test-api-key-0123456789"
BROCKMAN_ENDPOINT = "https://focuslab.test/api/v1/"


def _env_setting(raw: str) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# A process started by a test (a flusher, a worker) takes BROCKMAN_* settings from its
# environment: numbers and JSON literals are parsed, anything else is a string.
globals().update(
    (name, _env_setting(value))
    for name, value in os.environ.items()
    if name.startswith("BROCKMAN_") and not name.startswith("BROCKMAN_TEST_")
)

_DB = os.environ.get("BROCKMAN_TEST_DB", "sqlite")
# A real process started by a test connects to the test database by this name.
_DB_NAME = os.environ.get("BROCKMAN_TEST_DB_NAME")

if _DB == "sqlite":
    _sqlite_file = str(BASE_DIR.parent / ".test-db.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _DB_NAME or ":memory:",
            # IMMEDIATE, as the docs advise (brockman.W020); the contention tests run
            # flushers with a short timeout (BROCKMAN_TEST_SQLITE_TIMEOUT).
            "OPTIONS": {
                "timeout": float(os.environ.get("BROCKMAN_TEST_SQLITE_TIMEOUT", "30")),
                "transaction_mode": "IMMEDIATE",
            },
            # A file, not memory, so that flushers in other processes share it.
            "TEST": {"NAME": os.environ.get("BROCKMAN_TEST_SQLITE_FILE", _sqlite_file)},
        }
    }
elif _DB == "postgres":
    _CONN_MAX_AGE: Any = _env_setting(os.environ.get("BROCKMAN_TEST_CONN_MAX_AGE", "0"))
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _DB_NAME or "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": os.environ.get("BROCKMAN_TEST_DB_TEST_NAME", "test_brockman")},
            # The outage tests run workers with CONN_MAX_AGE = None ("null").
            "CONN_MAX_AGE": _CONN_MAX_AGE,
        }
    }
elif _DB == "mariadb":
    import pymysql

    pymysql.install_as_MySQLdb()
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": _DB_NAME or "test",
            "USER": os.environ.get("MYSQL_USER", "root"),
            "PASSWORD": os.environ.get("MYSQL_PASSWORD", ""),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": os.environ.get("BROCKMAN_TEST_DB_TEST_NAME", "test_brockman"),
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    }
else:
    raise RuntimeError(f"BROCKMAN_TEST_DB must be sqlite, postgres or mariadb, not {_DB!r}")
