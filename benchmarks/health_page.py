"""How long the admin's health page and brockman_status take with a million sent triggers.

Usage: python benchmarks/health_page.py [--rows 1000000] [--recent] [--keep]

Creates a scratch PostgreSQL database (``scratch_brockman_health``, or $SCRATCH_DB) on
the server the test settings name, fills it with INSERT ... generate_series (sent rows
spread over 30 days, or with --recent all within the last 24 hours, plus a few hundred
pending and failed), then times the health figures, the health page and the changelist
through Django's test client, and prints each figure query's plan.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCRATCH = os.environ.get("SCRATCH_DB", "scratch_brockman_health")

FILL = """
INSERT INTO django_brockman_trigger (uuid, actor_id, action, obj, identities, attributes,
    variables, status, attempts, next_attempt_at, claim_token, last_error, created_at,
    updated_at, sent_at)
SELECT gen_random_uuid(), 'actor-' || (n % 50000), 'viewed', 'page ' || (n % 100), '{{}}',
    '{{}}', '{{}}', 'sent', 1, t, NULL, '', t - interval '2 seconds', t, t
FROM (SELECT n, now() - n * interval '{spacing} seconds' AS t
      FROM generate_series(1, {rows}) AS n) AS s;
INSERT INTO django_brockman_trigger (uuid, actor_id, action, obj, identities, attributes,
    variables, status, attempts, next_attempt_at, claim_token, last_error, created_at,
    updated_at, sent_at)
SELECT gen_random_uuid(), 'actor-' || n, 'viewed', 'page', '{{}}', '{{}}', '{{}}',
    CASE WHEN n % 3 = 0 THEN 'failed' ELSE 'pending' END, 2, now(), NULL, '',
    now() - n * interval '1 minute', now() - n * interval '1 minute', NULL
FROM generate_series(1, 300) AS n;
VACUUM ANALYZE django_brockman_trigger;
"""


def psql(*args: str, database: str = "postgres", script: str | None = None) -> None:
    host = os.environ.get("PGHOST", "127.0.0.1")
    user = os.environ.get("PGUSER", "postgres")
    command = ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-U", user, "-d", database]
    # A script on stdin runs statement by statement (VACUUM refuses a transaction).
    subprocess.run([*command, *args], input=script, text=True, check=True)


def prepare(rows: int, recent: bool) -> None:
    psql("-c", f"DROP DATABASE IF EXISTS {SCRATCH}", "-c", f"CREATE DATABASE {SCRATCH}")
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    spread = 86_000 if recent else 30 * 86_400
    started = time.perf_counter()
    psql(database=SCRATCH, script=FILL.format(rows=rows, spacing=spread / rows))
    print(f"Inserted {rows} sent rows in {time.perf_counter() - started:.1f} s")


def timed(label: str, action: Callable[[], object], runs: int = 7) -> None:
    action()  # warm the caches, as a page that is looked at often is
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    print(f"{label}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")


def explain() -> None:
    from django.db import connection

    from django_brockman import stats

    with connection.execute_wrapper(print_plan):
        stats.collect()


def print_plan(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    result = execute(sql, params, many, context)
    # The driver's own cursor, which does not pass through this wrapper again.
    with context["connection"].connection.cursor() as cursor:
        cursor.execute("EXPLAIN ANALYZE " + sql, params)
        print("\n" + sql[:160])
        print("\n".join("    " + row[0] for row in cursor.fetchall()))
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--recent", action="store_true", help="All within the last 24 hours.")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch database.")
    parser.add_argument("--no-fill", action="store_true", help="Reuse a filled database.")
    args = parser.parse_args()
    os.environ.update(
        BROCKMAN_TEST_DB="postgres",
        BROCKMAN_TEST_DB_NAME=SCRATCH,
        DJANGO_SETTINGS_MODULE="tests.settings",
    )
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.test import Client
    from django.test.utils import setup_test_environment

    from django_brockman import stats

    if not args.no_fill:
        prepare(args.rows, args.recent)
    setup_test_environment()
    user, _ = User.objects.get_or_create(username="bench", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    timed("stats.collect()", stats.collect)
    timed("GET health page", lambda: client.get("/admin/django_brockman/trigger/health/"))
    timed("GET changelist", lambda: client.get("/admin/django_brockman/trigger/"))
    timed(
        "GET changelist ?status__exact=failed",
        lambda: client.get("/admin/django_brockman/trigger/", {"status__exact": "failed"}),
    )
    explain()
    if not args.keep:
        from django.db import connections

        connections.close_all()
        psql("-c", f"DROP DATABASE {SCRATCH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
