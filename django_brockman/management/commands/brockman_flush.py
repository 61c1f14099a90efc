"""manage.py brockman_flush: deliver the outbox's due triggers to FocusLab."""

from __future__ import annotations

import contextlib
import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, SystemCheckError
from django.db import close_old_connections, connections

from django_brockman import dbretry, engine, outbox
from django_brockman.dbretry import DatabaseRetry, DatabaseUnavailable
from django_brockman.engine import FlushResult
from django_brockman.management.arguments import positive_float, positive_int
from django_brockman.progress import ProgressBar, log_each_trigger

# Exit statuses, documented in README.rst: 0 the run completed (or was stopped by a
# signal), 1 an unexpected error (with its traceback), 2 bad command-line options.
EXIT_CONFIGURATION = 3
# The database stayed away longer than a run waits for it (its lease); --loop never exits so.
EXIT_DATABASE = 4


class Command(BaseCommand):
    help = "Deliver due triggers from the outbox to FocusLab."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--limit", type=positive_int, help="Claim at most N triggers.")
        parser.add_argument("--batch-size", type=positive_int, help="Triggers per claim.")
        parser.add_argument("--concurrency", type=positive_int, help="Requests in flight at once.")
        parser.add_argument(
            "--max-seconds", type=positive_float, help="Stop claiming after S seconds."
        )
        parser.add_argument(
            "--loop", action="store_true", help="Keep flushing until SIGTERM or SIGINT."
        )
        parser.add_argument(
            "--interval",
            type=positive_float,
            default=5.0,
            help="With --loop: seconds to sleep when nothing is due (default 5).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count due triggers; send nothing."
        )
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Make failed triggers pending again (attempts reset) before flushing.",
        )
        parser.add_argument("--database", help="Database alias of the outbox.")

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except SystemCheckError as exc:
            # A failed system check is a configuration error like any other.
            exc.returncode = EXIT_CONFIGURATION
            raise

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if using is not None and using not in connections:
            raise CommandError(
                f"No database {using!r} in DATABASES.", returncode=EXIT_CONFIGURATION
            )
        if options["dry_run"]:
            self.dry_run(options)
            return
        if options["retry_failed"]:
            count = outbox.requeue_failed(using)
            self.stdout.write(f"Requeued {count} failed triggers.")
        stop = threading.Event()
        previous = self.install_signal_handlers(stop)
        try:
            verbose = options["verbosity"] >= 2
            with log_each_trigger(self.stderr) if verbose else contextlib.nullcontext():
                self.run(options, stop)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def dry_run(self, options: dict[str, Any]) -> None:
        using = options["database"]
        if options["retry_failed"]:
            failed = outbox.count_failed(using)
            self.stdout.write(f"{failed} failed triggers would be requeued.")
        self.stdout.write(f"{outbox.count_due(using)} triggers are due; none was sent.")

    def run(self, options: dict[str, Any], stop: threading.Event) -> None:
        alias = outbox.db_alias(options["database"])
        # A --loop worker waits out a database outage of any length (one instance, so a
        # long outage is logged once); a single run waits up to its lease (see flush()).
        db = DatabaseRetry(alias, should_stop=stop.is_set) if options["loop"] else None
        while True:
            bar = self.progress_bar(options)
            result = self.flush_once(options, stop, bar, db)
            if bar is not None:
                bar.finish()
            quiet = (options["loop"] and not result.claimed) or options["verbosity"] < 1
            self.report(result, quiet=quiet)
            if result.error:
                raise CommandError(result.error, returncode=EXIT_CONFIGURATION)
            if not options["loop"] or stop.wait(0 if result.claimed else options["interval"]):
                return
            # A worker lives for days: drop connections the database closed or that
            # outlived CONN_MAX_AGE, as Django does between requests, and the outbox's
            # connection if it is broken, even with CONN_MAX_AGE = None.
            close_old_connections()
            dbretry.drop_unusable(alias)

    def progress_bar(self, options: dict[str, Any]) -> ProgressBar | None:
        # Only for a person watching: not in cron (no terminal), not in a --loop that
        # runs for days, and not at -v 2, where each trigger's outcome is printed instead.
        if options["loop"] or options["verbosity"] != 1 or not self.stdout.isatty():
            return None
        total = outbox.count_due(options["database"])
        if options["limit"] is not None:
            total = min(total, options["limit"])
        return ProgressBar(total, self.stdout)

    def flush_once(
        self,
        options: dict[str, Any],
        stop: threading.Event,
        progress: ProgressBar | None,
        db: DatabaseRetry | None = None,
    ) -> FlushResult:
        try:
            return engine.flush(
                limit=options["limit"],
                batch_size=options["batch_size"],
                concurrency=options["concurrency"],
                max_seconds=options["max_seconds"],
                using=options["database"],
                stop=stop,
                progress=progress,
                db_retry=db,
            )
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=EXIT_CONFIGURATION) from exc
        except DatabaseUnavailable as exc:
            if stop.is_set():  # a --loop worker stopped while waiting for the database
                return FlushResult(interrupted=True)
            raise CommandError(
                f"{exc}. Triggers whose results could not be written become due again "
                "when their lease ends.",
                returncode=EXIT_DATABASE,
            ) from exc

    def report(self, result: FlushResult, *, quiet: bool) -> None:
        if quiet:
            return
        style = self.style.SUCCESS if not (result.failed or result.error) else self.style.WARNING
        self.stdout.write(style(f"Flushed: {result}."))
        if result.interrupted:
            self.stdout.write("Stopped by a signal; unsent triggers were released.")

    def install_signal_handlers(self, stop: threading.Event) -> dict[int, Any]:
        """Make SIGTERM and SIGINT finish what is in flight, then stop; return the old
        handlers."""

        def handler(signum: int, frame: FrameType | None) -> None:
            stop.set()

        if threading.current_thread() is not threading.main_thread():
            return {}
        return {
            signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)
        }
