"""manage.py brockman_flush: deliver the outbox's due triggers to FocusLab."""

from __future__ import annotations

import contextlib
import threading
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, SystemCheckError
from django.db import connections
from django.utils import timezone

from django_brockman import engine, stats, transitions
from django_brockman.dbretry import DatabaseUnavailable
from django_brockman.destinations import DEFAULT, validate_destination
from django_brockman.engine import FlushResult
from django_brockman.management.arguments import positive_float, positive_int
from django_brockman.management.base import OutboxCommand
from django_brockman.management.output import (
    ProgressBar,
    log_each_trigger,
    reason_lines,
    undelivered_message,
)

# Exit statuses, documented in docs/reference/commands.rst: 0 the run completed (or was
# stopped by a signal), 1 an unexpected error (with its traceback), 2 bad command-line
# options, 3 a configuration error (FocusLab refused a destination's key or endpoint, after
# the other destinations were delivered; the settings cannot deliver; a missing outbox
# table), and:
EXIT_CONFIGURATION = 3
# The database stayed away longer than a run waits for it (its lease); --loop never exits so.
EXIT_DATABASE = 4
# Nothing was delivered: FocusLab could not be reached or answered only with errors.
EXIT_UNDELIVERED = 5


class Command(OutboxCommand):
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
        parser.add_argument(
            "--destination",
            action="append",
            metavar="NAME",
            help="Deliver only to this BROCKMAN_DESTINATIONS entry (repeat for several).",
        )

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
        for name in options["destination"] or ():
            try:
                validate_destination(name)
            except ValueError as exc:
                raise CommandError(str(exc), returncode=EXIT_CONFIGURATION) from exc
        if options["dry_run"]:
            self.dry_run(options)
            return
        if options["retry_failed"]:
            count = transitions.requeue_failed(using)
            self.stdout.write(f"Requeued {count} failed triggers.")
        verbose = options["verbosity"] >= 2
        logging = log_each_trigger(self.stderr) if verbose else contextlib.nullcontext()
        with engine.stop_on_signals() as stop, logging:
            result = self.run(options, stop)
        if result.refused and set(result.refused) != {DEFAULT}:
            # The others were delivered; say which destinations were not, and why.
            raise CommandError(
                " ".join(
                    f"FocusLab refused the destination {name!r}: {error}"
                    for name, error in result.refused.items()
                ),
                returncode=EXIT_CONFIGURATION,
            )
        if result.error:
            raise CommandError(result.error, returncode=EXIT_CONFIGURATION)
        if result.undelivered and not result.interrupted:
            raise CommandError(undelivered_message(result), returncode=EXIT_UNDELIVERED)

    def dry_run(self, options: dict[str, Any]) -> None:
        using = options["database"]
        if options["retry_failed"]:
            failed = stats.count_failed(using)
            self.stdout.write(f"{failed} failed triggers would be requeued.")
        self.stdout.write(f"{stats.count_due(using)} triggers are due; none was sent.")

    def run(self, options: dict[str, Any], stop: threading.Event) -> FlushResult:
        arguments = {
            "limit": options["limit"],
            "batch_size": options["batch_size"],
            "concurrency": options["concurrency"],
            "max_seconds": options["max_seconds"],
            "using": options["database"],
            "stop": stop,
            "destinations": options["destination"],
        }
        quiet = options["verbosity"] < 1
        bar = self.progress_bar(options)
        try:
            if options["loop"]:

                def report(result: FlushResult) -> None:
                    # Each run is reported, except the many that found nothing due and
                    # those that met an outage, which the loop logs once instead.
                    skip = not result.claimed or result.undelivered
                    self.report(result, quiet=quiet or skip)

                return engine.flush_loop(interval=options["interval"], report=report, **arguments)
            result = engine.flush(progress=bar, **arguments)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc), returncode=EXIT_CONFIGURATION) from exc
        except DatabaseUnavailable as exc:
            if not stop.is_set():
                raise CommandError(
                    f"{exc}. Triggers whose results could not be written become due again "
                    "when their lease ends.",
                    returncode=EXIT_DATABASE,
                ) from exc
            result = engine.FlushResult(interrupted=True)  # a signal during the outage
        if bar is not None:
            bar.finish()
        self.report(result, quiet=quiet)
        return result

    def progress_bar(self, options: dict[str, Any]) -> ProgressBar | None:
        # Only for a person watching: not in cron (no terminal), not in a --loop that
        # runs for days, and not at -v 2, where each trigger's outcome is printed instead.
        if options["loop"] or options["verbosity"] != 1 or not self.stdout.isatty():
            return None
        total = stats.count_due(options["database"])
        if options["limit"] is not None:
            total = min(total, options["limit"])
        return ProgressBar(total, self.stdout)

    def report(self, result: FlushResult, *, quiet: bool) -> None:
        if quiet:
            return
        troubled = result.retried or result.failed or result.error
        style = self.style.WARNING if troubled else self.style.SUCCESS
        self.stdout.write(style(f"Flushed: {result}."))
        for line in reason_lines(result, timezone.now()):
            self.stdout.write(line)
        if result.interrupted:
            self.stdout.write("Stopped by a signal; unsent triggers were released.")
