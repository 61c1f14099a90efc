"""Peak RSS of a flusher whose every request is answered with a 50 MB error body, against
the same flusher answered 201 with no body: the ratio must stay at most 1.2.

Usage: python benchmarks/error_bodies.py [--count 200] [--body-mb 50] [--reps 3] [--before]

Both flushes run ``brockman_flush --concurrency 8`` as a process of its own against a
raw-socket server in this process, alternately; the figure is the median of the
repetitions. ``--before`` adds a line for the client as it was (requests' general path,
reading whole bodies), on a smaller backlog.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

from benchmarks.suite import make_backlog  # noqa: E402
from benchmarks.support import API_KEY, Figure, interleave, median  # noqa: E402
from django_brockman.models import Status, Trigger  # noqa: E402
from tests.rawhttp import Answer, RawServer, response  # noqa: E402

MB = 1024 * 1024
CONCURRENCY = 8
GENERAL_PATH = "benchmarks.general_path_backend.GeneralPathBackend"
# Starts the flusher and prints its peak RSS. A child's peak counts the pages of the
# process it was forked from, and this one holds the 50 MB answer: a small launcher
# keeps that out of the figure.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "print(os.wait4(child.pid, 0)[2].ru_maxrss)\n"
)


def flush_peak_rss(
    endpoint: str, count: int, backend: str | None = None, *, strict: bool = True
) -> float:
    """Flush a backlog of *count* in a new process; return its peak RSS in MB."""
    make_backlog(count)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "BROCKMAN_ENDPOINT": endpoint,
        "BROCKMAN_API_KEY": API_KEY,
    }
    if backend:
        env["BROCKMAN_BACKEND"] = backend
    flusher = [sys.executable, "-m", "django", "brockman_flush", "--concurrency", str(CONCURRENCY)]
    launched = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *flusher],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # A retried trigger may come due again within the run (full jitter): at least once.
    attempted = Trigger.objects.filter(attempts__gte=1).count()
    if strict and attempted != count:
        raise RuntimeError(f"brockman_flush attempted {attempted} of {count} triggers.")
    return int(launched.stdout) / 1024  # kilobytes on Linux


def measure(count: int, body_mb: int, reps: int, before: bool) -> list[Figure]:
    error = Answer(parts=(response("500 Internal Server Error", (), b"x" * (body_mb * MB)),))
    with RawServer(lambda number: error) as failing, RawServer() as accepting:

        def with_errors() -> float:
            return flush_peak_rss(failing.endpoint, count)

        def normal() -> float:
            peak = flush_peak_rss(accepting.endpoint, count)
            assert Trigger.objects.filter(status=Status.SENT).count() == count
            return peak

        samples = interleave({"errors": with_errors, "normal": normal}, reps)
        figures = [figure(samples, count, body_mb)]
        if before:
            small = max(1, count // 8)
            old = flush_peak_rss(failing.endpoint, small, GENERAL_PATH, strict=False)
            attempted = Trigger.objects.filter(attempts__gte=1).count()
            figures.append(
                Figure(
                    "E0",
                    "the same, client reading whole bodies (before)",
                    old / median(samples["normal"]),
                    "report",
                    None,
                    f"{old:.0f} MB peak, {attempted} of {small} triggers attempted",
                )
            )
    return figures


def figure(samples: dict[str, list[float]], count: int, body_mb: int) -> Figure:
    errors, normal = median(samples["errors"]), median(samples["normal"])
    ratio = errors / normal
    return Figure(
        "E",
        f"peak RSS, {body_mb} MB error bodies vs 201s (c={CONCURRENCY})",
        ratio,
        "<= 1.2",
        ratio <= 1.2,
        f"{errors:.1f} MB vs {normal:.1f} MB flushing {count} "
        f"(runs: {', '.join(f'{value:.1f}' for value in samples['errors'])} vs "
        f"{', '.join(f'{value:.1f}' for value in samples['normal'])})",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--before", action="store_true")
    args = parser.parse_args()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for line in measure(args.count, args.body_mb, args.reps, args.before):
        print(line.line(), flush=True)
    Trigger.objects.all().delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
