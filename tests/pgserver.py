"""A throwaway PostgreSQL server for outage tests: its own data directory and port.

The shared server is never touched: this one is initialised into a temporary directory
(as the ``postgres`` user, through ``runuser``), listens on 127.0.0.1 on a free port,
can be stopped and started at will, and is removed afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from types import TracebackType

import psycopg

DATABASE = "brockman_outage"


def find_bin_dir() -> str | None:
    """The PostgreSQL server binaries, if this machine has them and can run them."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates or shutil.which("runuser") is None or os.geteuid() != 0:
        return None
    return os.path.dirname(candidates[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    def __init__(self, bin_dir: str) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="brockman-pg-")
        self.data = os.path.join(self.root, "data")
        self.running = False
        shutil.chown(self.root, "postgres", "postgres")
        os.chmod(self.root, 0o700)

    def as_postgres(self, program: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bin_dir, program), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def __enter__(self) -> ThrowawayPostgres:
        try:
            self.as_postgres(
                "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync"
            )
            self.start()
            with psycopg.connect(**self.params("postgres"), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {DATABASE}")
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = os.path.join(self.root, "server.log")
        self.as_postgres("pg_ctl", "-D", self.data, "-o", options, "-l", log, "-w", "start")
        self.running = True

    def stop(self) -> None:
        """Stop at once, as a crash or a restart would: sessions are cut off."""
        self.as_postgres("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.running = False

    def remove(self) -> None:
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def params(self, dbname: str = DATABASE) -> dict[str, object]:
        return {"host": "127.0.0.1", "port": self.port, "user": "postgres", "dbname": dbname}

    def query(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with psycopg.connect(**self.params(), autocommit=True) as conn:  # type: ignore[arg-type]
            cursor = conn.execute(sql, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def env(self, **extra: str) -> dict[str, str]:
        """What a command process needs to use this server through tests.settings."""
        return {
            "BROCKMAN_TEST_DB": "postgres",
            "BROCKMAN_TEST_DB_NAME": DATABASE,
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            **extra,
        }
