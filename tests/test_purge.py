"""purge(): old finished triggers go, in batches; pending and in-flight ones never do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from django_brockman.models import Status, Trigger
from django_brockman.purge import Finished, purge

pytestmark = pytest.mark.django_db


def make(status: str, age: timedelta, count: int = 1) -> list[int]:
    """*count* triggers in *status*, last updated *age* ago; their pks."""
    updated_at = timezone.now() - age
    return [
        Trigger.objects.create(
            actor_id="actor", action="viewed", obj="page", status=status, updated_at=updated_at
        ).pk
        for _ in range(count)
    ]


OLD = timedelta(days=40)
RECENT = timedelta(days=2)


def remaining() -> set[int]:
    return set(Trigger.objects.values_list("pk", flat=True))


def test_purge_deletes_old_sent_only_by_default() -> None:
    old_sent = make(Status.SENT, OLD, 3)
    kept = make(Status.SENT, RECENT) + make(Status.FAILED, OLD)

    assert purge(timedelta(days=30)) == 3

    assert remaining() == set(kept)
    assert not set(old_sent) & remaining()


def test_purge_failed_deletes_old_failed_only() -> None:
    make(Status.FAILED, OLD, 2)
    kept = make(Status.SENT, OLD) + make(Status.FAILED, RECENT)

    assert purge(timedelta(days=30), Finished.FAILED) == 2
    assert remaining() == set(kept)


def test_purge_all_deletes_old_sent_and_failed() -> None:
    make(Status.SENT, OLD, 2)
    make(Status.FAILED, OLD, 2)
    kept = make(Status.SENT, RECENT) + make(Status.FAILED, RECENT)

    assert purge(timedelta(days=30), Finished.ALL) == 4
    assert remaining() == set(kept)


def test_purge_never_deletes_pending_or_sending_however_old() -> None:
    kept = make(Status.PENDING, OLD * 100, 2) + make(Status.SENDING, OLD * 100, 2)

    assert purge(timedelta(0), Finished.ALL) == 0
    assert remaining() == set(kept)


def test_purge_in_batches_deletes_everything_due() -> None:
    make(Status.SENT, OLD, 7)
    kept = make(Status.PENDING, OLD)

    assert purge(timedelta(days=1), batch_size=2) == 7
    assert remaining() == set(kept)


def test_purge_zero_days_deletes_every_finished_row() -> None:
    make(Status.SENT, timedelta(seconds=1), 2)

    assert purge(timedelta(0)) == 2


def test_purge_negative_age_raises() -> None:
    with pytest.raises(ValueError, match="older_than"):
        purge(timedelta(days=-1))


def test_purge_batch_size_below_one_raises() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        purge(timedelta(days=1), batch_size=0)


@pytest.mark.parametrize(
    ("choice", "statuses"),
    [
        (Finished.SENT, (Status.SENT,)),
        (Finished.FAILED, (Status.FAILED,)),
        (Finished.ALL, (Status.SENT, Status.FAILED)),
    ],
)
def test_finished_statuses(choice: Finished, statuses: tuple[Status, ...]) -> None:
    assert choice.statuses == statuses
