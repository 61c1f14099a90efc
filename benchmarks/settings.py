"""Settings for the benchmark suite: BENCH_DB picks sqlite (default) or postgres."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

SECRET_KEY = "benchmarks-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
ALLOWED_HOSTS = ["*"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",  # figure 8 times the health page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_brockman",
]

# A typical stack; the middleware figure measures this with and without Brockman's.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

BROCKMAN_API_KEY = "benchmark-key"
BROCKMAN_ENDPOINT = "http://127.0.0.1:9/api/v1/"

# Processes started by the suite (brockman_flush) take BROCKMAN_* settings from the
# environment, as the test suite's do.
globals().update(
    (name, json.loads(value) if value[:1] in "0123456789[{" else value)
    for name, value in os.environ.items()
    if name.startswith("BROCKMAN_")
)

_DB = os.environ.get("BENCH_DB", "sqlite")
# Three databases: "default" starts empty for every figure, "history" holds the sent
# history of figure 7, so that both claim timings can be interleaved, and "volume" the
# rows of figures 8 and 9.
_SQLITE_DIR = Path(os.environ.get("BENCH_SQLITE_DIR", tempfile.gettempdir()))

# Scratch database names on PostgreSQL, so that two runs on one server stay apart.
_PG_PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench_brockman")

if _DB == "sqlite":
    DATABASES = {
        alias: {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_SQLITE_DIR / f"bench_brockman_{alias}.sqlite3"),
            # As the docs tell a SQLite site to (brockman.W020).
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
        for alias in ("default", "history", "volume")
    }
elif _DB == "postgres":
    DATABASES = {
        alias: {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
        }
        for alias, name in (
            ("default", _PG_PREFIX),
            ("history", f"{_PG_PREFIX}_history"),
            ("volume", f"{_PG_PREFIX}_volume"),
        )
    }
else:
    raise RuntimeError(f"BENCH_DB must be sqlite or postgres, not {_DB!r}")
