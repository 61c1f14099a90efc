"""Task-engine doors into engine.flush(): one bounded flush per task run."""

from __future__ import annotations

from importlib.util import find_spec

from django.core.exceptions import ImproperlyConfigured

from django_brockman import engine
from django_brockman.clock import SYSTEM_CLOCK, Clock
from django_brockman.conf import conf

__all__ = ["run_flush"]

FlushSummary = dict[str, int | bool]


def run_flush(clock: Clock = SYSTEM_CLOCK) -> FlushSummary:
    """Run one flush bounded by BROCKMAN_TASK_LIMIT and BROCKMAN_TASK_MAX_SECONDS.

    Returns the counts as a small JSON-serialisable dict. Raises ImproperlyConfigured
    when FocusLab rejects the configuration, so the task engine records a failure.
    """
    result = engine.flush(
        limit=conf.TASK_LIMIT, max_seconds=conf.TASK_MAX_SECONDS, clock=clock, from_task=True
    )
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


# Celery's autodiscover_tasks() imports each installed app's "tasks" module; registering
# the Celery task here lets a worker run it without any configuration.
if find_spec("celery") is not None:
    from django_brockman.tasks import celery as celery
