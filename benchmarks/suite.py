"""The seven throughput figures for one database (BENCH_DB), each against a baseline.

Run through ``python benchmarks/run.py``, which starts this once per database.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.test.client import RequestFactory  # noqa: E402

from benchmarks.support import (  # noqa: E402
    API_KEY,
    Figure,
    analyze,
    empty,
    fill,
    interleave,
    median,
    receiver_process,
    timed,
)
from django_brockman import outbox, record_trigger, record_triggers  # noqa: E402
from django_brockman.client import USER_AGENT, build_body  # noqa: E402
from django_brockman.models import Status, Trigger  # noqa: E402

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ROW: dict[str, Any] = {
    "actor_id": "actor-1",
    "action": "viewed",
    "obj": "product 42",
    "identities": {"email": "ada@example.com"},
    "attributes": {"plan": "pro"},
    "variables": {"price": 9.5, "tags": ["a", "b"]},
}


def scaled(count: int) -> int:
    return max(1, round(count * SCALE))


def in_rolled_back_transaction(work: Callable[[], object]) -> Callable[[], float]:
    """Time *work* inside a transaction that is then rolled back, so the table stays
    the same size from one repetition to the next."""

    def run() -> float:
        with transaction.atomic():
            took = timed(work)
            transaction.set_rollback(True)
        return took

    return run


def figure_1() -> Figure:
    count = 50
    fields = {key: ROW[key] for key in ("actor_id", "action", "obj")}
    extra = {key: ROW[key] for key in ("identities", "attributes", "variables")}

    def bare() -> None:
        for _ in range(count):
            Trigger.objects.create(**fields, **extra)

    def recorded() -> None:
        for _ in range(count):
            record_trigger(None, ROW["action"], ROW["obj"], actor_id=ROW["actor_id"], **extra)

    samples = interleave(
        {
            "create": in_rolled_back_transaction(bare),
            "record": in_rolled_back_transaction(recorded),
        },
        scaled(41),
    )
    per_row = {name: median(values) / count * 1e6 for name, values in samples.items()}
    ratio = per_row["record"] / per_row["create"]
    return Figure(
        "1",
        "record_trigger vs Trigger.objects.create",
        ratio,
        "<= 1.15",
        ratio <= 1.15,
        f"record_trigger {per_row['record']:.1f} us, create {per_row['create']:.1f} us a row",
    )


def figure_2() -> Figure:
    count = 1000
    items = [dict(ROW, obj=f"product {n}") for n in range(count)]

    def bare() -> None:
        Trigger.objects.bulk_create([Trigger(**item) for item in items])

    def bulk() -> None:
        record_triggers(None, items)

    def singles() -> None:
        for item in items:
            record_trigger(None, item["action"], item["obj"], **without(item, "action", "obj"))

    samples = interleave(
        {
            "bulk_create": in_rolled_back_transaction(bare),
            "record_triggers": in_rolled_back_transaction(bulk),
            "record_trigger x1000": in_rolled_back_transaction(singles),
        },
        scaled(11),
    )
    ms = {name: median(values) * 1e3 for name, values in samples.items()}
    ratio = ms["record_triggers"] / ms["bulk_create"]
    speedup = ms["record_trigger x1000"] / ms["record_triggers"]
    bare_speedup = ms["record_trigger x1000"] / ms["bulk_create"]
    return Figure(
        "2",
        "record_triggers(1000) vs bulk_create(1000)",
        ratio,
        "<= 1.2",
        ratio <= 1.2,
        f"record_triggers {ms['record_triggers']:.1f} ms, bulk_create "
        f"{ms['bulk_create']:.1f} ms, 1000 record_trigger {ms['record_trigger x1000']:.1f} ms: "
        f"bulk is {speedup:.1f}x faster a row (a bare bulk insert {bare_speedup:.1f}x)",
    )


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


MIDDLEWARE_PATH = "django_brockman.middleware.BrockmanMiddleware"


def figure_3() -> Figure:
    if importlib.util.find_spec("django_brockman.middleware") is None:
        return Figure(
            "3",
            "middleware's added time per request",
            float("nan"),
            "< 10 us",
            None,
            "not measured: django_brockman.middleware is not in this checkout",
        )
    from django.conf import settings

    count = 2000
    environ = RequestFactory().get("/", HTTP_COOKIE="fl_actor_id=actor-1").environ

    def handler(middleware: list[str]) -> Callable[[], float]:
        with override_settings(MIDDLEWARE=middleware):
            wsgi = WSGIHandler()

        def run() -> float:
            def start_response(status: str, headers: list[tuple[str, str]]) -> None:
                pass

            started = time.perf_counter()
            for _ in range(count):
                for _chunk in wsgi(dict(environ), start_response):
                    pass
            return (time.perf_counter() - started) / count

        return run

    stack = list(settings.MIDDLEWARE)
    samples = interleave(
        {"without": handler(stack), "with": handler([*stack, MIDDLEWARE_PATH])}, scaled(21)
    )
    added = [(w - wo) * 1e6 for w, wo in zip(samples["with"], samples["without"], strict=True)]
    base = median(samples["without"]) * 1e6
    with_it = median(samples["with"]) * 1e6
    return Figure(
        "3",
        "middleware's added time per request (us)",
        median(added),
        "< 10 us",
        median(added) < 10,
        f"with {with_it:.1f} us, without {base:.1f} us a request (6 other middleware)",
    )


def make_backlog(count: int) -> None:
    empty("default")
    fill("default", count, Status.PENDING)


def flush_command(*args: str) -> None:
    call_command("brockman_flush", *args, stdout=io.StringIO())


def wire_request(endpoint: str) -> tuple[str, bytes, dict[str, str]]:
    """The request the flusher sends for ROW, for the bare loops to send the same."""
    body = json.dumps(build_body(**without(ROW, "identities", "attributes"))).encode()
    headers = {
        "Content-Type": "application/json",
        "X-FL-API-KEY": API_KEY,
        "User-Agent": USER_AGENT,
    }
    return endpoint + "trigger/", body, headers


def flush_rate(count: int, *args: str) -> Callable[[], float]:
    def run() -> float:
        make_backlog(count)
        took = timed(lambda: flush_command(*args))
        sent = Trigger.objects.filter(status=Status.SENT).count()
        if sent != count:
            # A network error is retried later, as it should be; count only what arrived.
            errors = set(Trigger.objects.exclude(status=Status.SENT).values_list("last_error"))
            print(f"{'':<10}     brockman_flush sent {sent} of {count}: {errors}", flush=True)
        return sent / took

    return run


def loop_rate(count: int, threads: int, post: Callable[[], Callable[[], int]]) -> float:
    """Send *count* requests from *threads* threads, each with the client *post* makes."""
    remaining = iter(range(count))
    lock = threading.Lock()

    def work() -> None:
        send = post()
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            status = send()
            if status != 201:
                raise RuntimeError(f"The receiver answered {status}.")

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - started)


def keep_alive(endpoint: str) -> Callable[[], int]:
    url, body, headers = wire_request(endpoint)
    session = requests.Session()

    def send() -> int:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        return session.post(url, data=body, headers={**headers, **key}, timeout=10).status_code

    return send


def new_connection(endpoint: str) -> Callable[[], int]:
    url, body, headers = wire_request(endpoint)

    def send() -> int:
        key = {"Idempotency-Key": str(uuid.uuid4())}
        return requests.post(url, data=body, headers={**headers, **key}, timeout=10).status_code

    return send


GENERAL_PATH = "benchmarks.general_path_backend.GeneralPathBackend"


def figure_4() -> list[Figure]:
    count = scaled(300)
    with receiver_process() as endpoint, override_settings(BROCKMAN_ENDPOINT=endpoint):

        def general_path() -> float:
            # The client before each request was prepared once: Session.post per trigger.
            with override_settings(BROCKMAN_BACKEND=GENERAL_PATH):
                return flush_rate(count, "--concurrency", "1")()

        samples = interleave(
            {
                "flush": flush_rate(count, "--concurrency", "1"),
                "general path": general_path,
                "session": lambda: loop_rate(count, 1, lambda: keep_alive(endpoint)),
                "new connection": lambda: loop_rate(count, 1, lambda: new_connection(endpoint)),
            },
            scaled(9),
        )
    rate = {name: median(values) for name, values in samples.items()}
    ratio = rate["flush"] / rate["session"]
    return [
        Figure(
            "4",
            "brockman_flush (1 sender) vs Session.post loop",
            ratio,
            ">= 0.95",
            ratio >= 0.95,
            f"flush {rate['flush']:.0f}/s, Session.post loop {rate['session']:.0f}/s",
        ),
        Figure(
            "4b",
            "brockman_flush vs a new connection a request",
            rate["flush"] / rate["new connection"],
            "report",
            None,
            f"flush {rate['flush']:.0f}/s, requests.post each time {rate['new connection']:.0f}/s",
        ),
        Figure(
            "4c",
            "the same flush sending by Session.post (before)",
            rate["general path"] / rate["session"],
            "report",
            None,
            f"flush by Session.post {rate['general path']:.0f}/s: prepared once is "
            f"{rate['flush'] / rate['general path']:.2f}x its rate",
        ),
    ]


def figure_5() -> list[Figure]:
    count, threads, latency = scaled(640), 32, 0.05
    bound = threads / latency
    with (
        receiver_process(latency) as endpoint,
        override_settings(BROCKMAN_ENDPOINT=endpoint),
    ):
        samples = interleave(
            {
                "flush": flush_rate(count, "--concurrency", str(threads)),
                "threads": lambda: loop_rate(count, threads, lambda: keep_alive(endpoint)),
            },
            scaled(7),
        )
    rate = {name: median(values) for name, values in samples.items()}
    ratio = rate["flush"] / rate["threads"]
    return [
        Figure(
            "5",
            "flush --concurrency 32 vs 32 Session threads",
            ratio,
            ">= 0.85",
            ratio >= 0.85,
            f"flush {rate['flush']:.0f}/s, 32 threads {rate['threads']:.0f}/s (50 ms receiver)",
        ),
        Figure(
            "5b",
            "the same against the bound 32 / 0.05 s",
            rate["flush"] / bound,
            "report",
            None,
            f"flush {rate['flush'] / bound:.2f}, 32 bare threads "
            f"{rate['threads'] / bound:.2f} of {bound:.0f}/s",
        ),
    ]


def flush_max_rss(count: int) -> float:
    """Flush a backlog of *count* in a new process; return its peak RSS in MB."""
    make_backlog(count)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "BROCKMAN_BACKEND": "benchmarks.null_backend.NullBackend",
    }
    process = subprocess.Popen(
        # Large batches, so that the 100,000 take seconds rather than a minute; memory
        # is held per batch, so both backlogs are flushed alike.
        [sys.executable, "-m", "django", "brockman_flush", "--batch-size", "500"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    sent = Trigger.objects.filter(status=Status.SENT).count()
    if process.returncode or sent != count:
        raise RuntimeError(f"brockman_flush exited {process.returncode}, sent {sent}/{count}.")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def figure_6() -> Figure:
    small, large = scaled(10_000), scaled(100_000)
    started = time.perf_counter()
    samples = interleave(
        {"small": lambda: flush_max_rss(small), "large": lambda: flush_max_rss(large)}, 1
    )
    took = time.perf_counter() - started
    rss = {name: median(values) for name, values in samples.items()}
    ratio = rss["large"] / rss["small"]
    empty("default")
    return Figure(
        "6",
        f"peak RSS flushing {large:,} vs {small:,}",
        ratio,
        "<= 1.2",
        ratio <= 1.2,
        f"{rss['large']:.1f} MB vs {rss['small']:.1f} MB ({took:.0f} s for both)",
    )


def claim_seconds(alias: str, batch: int) -> Callable[[], float]:
    def run() -> float:
        record_triggers(None, [ROW] * batch, using=alias)
        started = time.perf_counter()
        claim = outbox.claim_batch(batch, 300, using=alias)
        took = time.perf_counter() - started
        if len(claim.triggers) != batch:
            raise RuntimeError(f"Claimed {len(claim.triggers)} of {batch}.")
        Trigger.objects.using(alias).filter(claim_token=claim.token).delete()
        return took

    return run


def claim_plan(alias: str) -> str:
    conn = connections[alias]
    due = Trigger.objects.using(alias).due()
    if conn.features.has_select_for_update_skip_locked:
        query = due.select_for_update(skip_locked=True)[:100]
    else:
        query = due.values_list("pk", flat=True)[:100]
    prefix = "EXPLAIN " if conn.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with transaction.atomic(using=alias), conn.cursor() as cursor:
        sql, params = query.query.get_compiler(using=alias).as_sql()
        cursor.execute(prefix + sql, params)
        return "\n".join(f"      {row[-1]}" for row in cursor.fetchall())


def figure_7() -> Figure:
    history = scaled(1_000_000)
    empty("default")
    started = time.perf_counter()
    history_rows = Trigger.objects.using("history")
    # The history is a fixture: built once, kept between runs (it takes a while).
    if history_rows.count() != history or history_rows.exclude(status=Status.SENT).exists():
        empty("history")
        fill("history", history, Status.SENT)
    filled = time.perf_counter() - started
    batch = 100
    samples = interleave(
        {"empty": claim_seconds("default", batch), "history": claim_seconds("history", batch)},
        scaled(25),
    )
    ms = {name: median(values) * 1e3 for name, values in samples.items()}
    ratio = ms["history"] / ms["empty"]
    plan = claim_plan("history")
    index_scan = "Index Scan" in plan or "USING" in plan
    analyze("history")
    return Figure(
        "7",
        f"claim of {batch} with {history:,} sent rows vs none",
        ratio,
        "<= 1.5",
        ratio <= 1.5 and index_scan,
        f"{ms['history']:.2f} ms vs {ms['empty']:.2f} ms a claim "
        f"(history ready in {filled:.0f} s); plan:\n{plan}",
    )


def main() -> int:
    call_command("migrate", verbosity=0)
    call_command("migrate", database="history", verbosity=0)
    figures: list[Figure] = []
    only = os.environ.get("BENCH_ONLY", "1234567")
    steps: dict[str, Callable[[], Figure | list[Figure]]] = {
        "1": figure_1,
        "2": figure_2,
        "3": figure_3,
        "4": figure_4,
        "5": figure_5,
        "6": figure_6,
        "7": figure_7,
    }
    for number, step in steps.items():
        if number not in only:
            continue
        empty("default")
        started = time.perf_counter()
        result = step()
        for figure in result if isinstance(result, list) else [result]:
            figures.append(figure)
            print(f"{connection.vendor:<10} {figure.line()}", flush=True)
        print(f"{'':<10}     ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
