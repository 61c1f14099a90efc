"""The Celery app of the tests' workers: Redis for messages and results, Django settings."""

from __future__ import annotations

import os

from celery import Celery

# A database number of its own, so a stray key never meets another project's.
REDIS_URL = os.environ.get("BROCKMAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")

app = Celery("tests")
app.conf.update(
    broker_url=REDIS_URL,
    result_backend=REDIS_URL,
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    # Workers of parallel test runs share the Redis database: keep them apart by queue
    # only, with no broadcast remote-control channel between them.
    worker_enable_remote_control=False,
    # One task at a time per worker, so that both workers get some.
    worker_prefetch_multiplier=1,
)
# As a project would: each installed app's "tasks" module, django_brockman's included.
app.autodiscover_tasks()
