"""A busy site for the SQLite contention tests, run as a process.

``python -m tests.sqlite_site SECONDS NAME`` loops like a view under ATOMIC_REQUESTS:
inside atomic(), it reads, then records a trigger. It prints, as JSON, the
Idempotency-Keys it recorded and every error it met.
"""

from __future__ import annotations

import json
import sys
import time


def main(seconds: float, name: str) -> None:
    import django

    django.setup()
    from django.db import transaction

    from django_brockman import record_trigger
    from django_brockman.models import Trigger

    recorded: list[str] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with transaction.atomic():
                seen = Trigger.objects.filter(actor_id=name).count()  # the read
                trigger = record_trigger(None, "viewed", f"page {seen}", actor_id=name)
        except Exception as exc:
            errors.append(repr(exc))
        else:
            assert trigger is not None
            recorded.append(str(trigger.uuid))
        time.sleep(0.002)  # a request's own work, outside the transaction
    print(json.dumps({"recorded": recorded, "errors": errors}))


if __name__ == "__main__":
    main(float(sys.argv[1]), sys.argv[2])
