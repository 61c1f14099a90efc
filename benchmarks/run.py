"""Run the whole benchmark suite: the receiver's ceiling, then every figure per database.

Usage: python benchmarks/run.py [--db sqlite,postgres] [--scale 1.0]

PostgreSQL figures use three scratch databases, bench_brockman, bench_brockman_history and
bench_brockman_volume (another prefix with BENCH_PG_PREFIX), created on first use (PGHOST,
PGPORT and PGUSER as for psql; default 127.0.0.1:5432, postgres). SQLite files go in the
temporary directory (or BENCH_SQLITE_DIR). Each figure is a ratio against a baseline measured
in the same run, interleaved with it, as the median of repetitions.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.receiver_ceiling import hammer, requests_client, socket_client  # noqa: E402
from benchmarks.support import receiver_process  # noqa: E402

PREFIX = os.environ.get("BENCH_PG_PREFIX", "bench_brockman")
SCRATCH_DATABASES = (PREFIX, f"{PREFIX}_history", f"{PREFIX}_volume")


def machine() -> str:
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {postgres_version()}"
    )


def postgres_connection(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        port=os.environ.get("PGPORT", "5432"),
        user=os.environ.get("PGUSER", "postgres"),
        dbname=dbname,
        autocommit=True,
    )


def postgres_version() -> str:
    try:
        with postgres_connection() as connection:
            version = connection.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # report, and go on without PostgreSQL
        return f"PostgreSQL unavailable ({type(exc).__name__})"
    return f"PostgreSQL {version}"


def create_scratch_databases() -> None:
    with postgres_connection() as connection:
        existing = {
            row[0] for row in connection.execute("SELECT datname FROM pg_database").fetchall()
        }
        for name in SCRATCH_DATABASES:
            if name not in existing:
                connection.execute(f'CREATE DATABASE "{name}"')


def receiver_ceiling(seconds: float) -> None:
    """What the receiver answers when the client costs almost nothing."""
    with receiver_process() as endpoint:
        url = endpoint + "trigger/"
        for label, client, threads in (
            ("raw socket, 1 thread", socket_client, 1),
            ("raw socket, 4 threads", socket_client, 4),
            ("requests.Session, 1 thread", requests_client, 1),
        ):
            rate = hammer(client, url, threads, seconds)
            print(f"receiver ceiling, at once:    {label:<28} {rate:7.0f} requests/s")
    with receiver_process(latency=0.05) as endpoint:
        rate = hammer(socket_client, endpoint + "trigger/", 32, seconds)
        print(
            f"receiver ceiling, 50 ms:      {'raw socket, 32 threads':<28} {rate:7.0f} "
            f"requests/s (bound 640)"
        )


def run_suite(db: str, scale: float) -> int:
    env = {**os.environ, "BENCH_DB": db, "BENCH_SCALE": str(scale), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "suite.py")], env=env, check=False
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--scale", type=float, default=1.0, help="sizes and repetitions")
    parser.add_argument("--ceiling-seconds", type=float, default=2.0)
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"Machine: {machine()}", flush=True)
    receiver_ceiling(args.ceiling_seconds)
    print(
        f"\n{'database':<10} {'#':<3} {'figure':<44} {'ratio':>7}  {'target':<10} "
        f"{'verdict':<8} absolute numbers",
        flush=True,
    )
    status = 0
    for db in args.db.split(","):
        if db == "postgres":
            create_scratch_databases()
        status |= run_suite(db, args.scale)
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    return status


if __name__ == "__main__":
    sys.exit(main())
