"""The Celery task: ``django_brockman.flush`` runs one bounded flush."""

from __future__ import annotations

from celery import shared_task

from django_brockman.tasks import FlushSummary, run_flush


@shared_task(name="django_brockman.flush")
def flush() -> FlushSummary:
    """Deliver due triggers for at most BROCKMAN_TASK_MAX_SECONDS; return the counts."""
    return run_flush()
