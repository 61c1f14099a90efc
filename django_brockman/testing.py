"""Helpers for testing code that records triggers: capture_triggers() and its pytest fixture."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import overload

from django.db.models import Max, QuerySet

from django_brockman.models import Trigger


class CapturedTriggers(Sequence[Trigger]):
    """The triggers recorded since the capture began, oldest first.

    It reads the outbox each time it is used, so it sees triggers recorded by any code
    and any thread (a live server included) that wrote to the database, and not those
    whose transaction rolled back. Once the ``with`` block ends it stops growing.
    """

    def __init__(self, using: str | None = None) -> None:
        self.using = using
        self.after = self._last_pk()
        self.until: int | None = None

    def _last_pk(self) -> int:
        return Trigger.objects.using(self.using).aggregate(last=Max("pk"))["last"] or 0

    def stop(self) -> None:
        """Stop capturing: the list keeps what was recorded until now (the ``with`` block
        calls it on exit)."""
        self.until = self._last_pk()

    @property
    def queryset(self) -> QuerySet[Trigger]:
        """The captured triggers as a queryset, to filter further."""
        # Primary keys only grow (Django declares SQLite's AUTOINCREMENT), so the rows
        # recorded since the start are those above the largest primary key seen then.
        triggers = Trigger.objects.using(self.using).filter(pk__gt=self.after)
        if self.until is not None:
            triggers = triggers.filter(pk__lte=self.until)
        return triggers.order_by("pk")

    @overload
    def __getitem__(self, index: int) -> Trigger: ...

    @overload
    def __getitem__(self, index: slice) -> list[Trigger]: ...

    def __getitem__(self, index: int | slice) -> Trigger | list[Trigger]:
        return list(self.queryset)[index]

    def __len__(self) -> int:
        return self.queryset.count()

    def __iter__(self) -> Iterator[Trigger]:
        return iter(list(self.queryset))

    def __repr__(self) -> str:
        return f"<CapturedTriggers {list(self.queryset)!r}>"


@contextmanager
def capture_triggers(using: str | None = None) -> Iterator[CapturedTriggers]:
    """Capture the triggers recorded inside the ``with`` block.

    ::

        with capture_triggers() as triggers:
            self.client.post("/checkout/")
        self.assertEqual([t.action for t in triggers], ["purchased"])
    """
    captured = CapturedTriggers(using)
    try:
        yield captured
    finally:
        captured.stop()
