"""The Django Tasks task: ``django_brockman.tasks.django.flush`` runs one bounded flush."""

from __future__ import annotations

try:
    from django.tasks import task
except ImportError:  # Django 5.2: the django-tasks backport
    try:
        from django_tasks import task  # type: ignore[no-redef,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            "django_brockman.tasks.django needs Django 6.0 or newer, or the django-tasks "
            "package: pip install 'django-brockman[tasks]'."
        ) from exc

from django_brockman.tasks import FlushSummary, run_flush


@task
def flush() -> FlushSummary:
    """Deliver due triggers for at most BROCKMAN_TASK_MAX_SECONDS; return the counts."""
    return run_flush()
