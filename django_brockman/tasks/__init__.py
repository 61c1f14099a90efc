"""Task-engine doors into engine.flush(): one bounded flush per task run."""

from __future__ import annotations

from importlib.util import find_spec

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from django_brockman import engine, outbox
from django_brockman.conf import conf

__all__ = ["run_flush"]

FlushSummary = dict[str, int | bool]


def run_flush() -> FlushSummary:
    """Run one flush bounded by BROCKMAN_TASK_LIMIT and BROCKMAN_TASK_MAX_SECONDS.

    Returns the counts as a small JSON-serialisable dict. Raises ImproperlyConfigured
    when FocusLab rejects the configuration, so the task engine records a failure.
    """
    refuse_open_transaction()
    result = engine.flush(limit=conf.TASK_LIMIT, max_seconds=conf.TASK_MAX_SECONDS)
    if result.error:
        raise ImproperlyConfigured(f"The flush stopped: {result.error}")
    return {
        "claimed": result.claimed,
        "sent": result.sent,
        "retried": result.retried,
        "failed": result.failed,
        "released": result.released,
        "lost": result.lost,
        "interrupted": result.interrupted,
    }


def refuse_open_transaction() -> None:
    # A backend that runs tasks in the caller's process (Django's immediate backend,
    # Celery's task_always_eager) would run the flush inside the caller's transaction:
    # claimed rows would stay locked, and results unwritten, for as long as HTTP takes.
    if connections[outbox.db_alias()].in_atomic_block:
        raise RuntimeError(
            "The flush task ran inside a database transaction, which would then be held "
            "open across HTTP requests to FocusLab. Enqueue it with "
            "transaction.on_commit(), or run it on a worker."
        )


# Celery's autodiscover_tasks() imports each installed app's "tasks" module; registering
# the Celery task here lets a worker run it without any configuration.
if find_spec("celery") is not None:
    from django_brockman.tasks import celery as celery
