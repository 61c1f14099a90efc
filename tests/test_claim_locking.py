"""A claim locks only the rows it takes: concurrent flushers each claim a batch.

On PostgreSQL and MariaDB (SKIP LOCKED), a flusher whose claim transaction is still open
must not hide the rest of the backlog from another flusher; and no supported database
gets a system-check warning for the outbox's indexes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core import checks
from django.db import connection, connections, transaction

from django_brockman import outbox
from django_brockman.models import Status, Trigger
from tests.processes import command_env, run

pytestmark = pytest.mark.django_db(transaction=True)

skip_locked = pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite has no row locks: its claims race on a conditional UPDATE",
)


def make_triggers(count: int) -> list[int]:
    Trigger.objects.bulk_create(
        Trigger(actor_id=f"actor-{n % 7}", action="viewed", obj=f"page {n}") for n in range(count)
    )
    # Their due times rise with their ids: the claim order is the id order.
    return list(Trigger.objects.order_by("next_attempt_at", "pk").values_list("pk", flat=True))


class HeldClaim:
    """A claim made in another thread's connection, its transaction left open."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.claimed = threading.Event()
        self.done = threading.Event()
        self.claim: outbox.Claim | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self.hold, daemon=True)

    def hold(self) -> None:
        try:
            with transaction.atomic():
                self.claim = outbox.claim_batch(self.size, 300)
                self.claimed.set()
                self.done.wait(60)
        except BaseException as exc:  # pragma: no cover - reported by the test
            self.error = exc
        finally:
            self.claimed.set()
            connections.close_all()

    def __enter__(self) -> HeldClaim:
        self.thread.start()
        assert self.claimed.wait(60)
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.done.set()
        self.thread.join(60)


@pytest.fixture
def backlog() -> list[int]:
    return make_triggers(3000)


@skip_locked
def test_claim_while_another_claim_is_open_takes_a_full_batch(backlog: list[int]) -> None:
    with HeldClaim(100) as held:
        assert held.claim is not None
        assert len(held.claim.triggers) == 100

        claim = outbox.claim_batch(100, 300)

        taken = {trigger.pk for trigger in claim.triggers}
        assert len(taken) == 100
        assert not taken & {trigger.pk for trigger in held.claim.triggers}
        # Still oldest due first: the batch right after the one held.
        assert sorted(taken) == sorted(backlog[100:200])
    assert Trigger.objects.filter(status=Status.SENDING).count() == 200


@skip_locked
def test_three_open_claims_leave_a_fourth_its_batch(backlog: list[int]) -> None:
    with HeldClaim(50) as first, HeldClaim(50) as second, HeldClaim(50) as third:
        claim = outbox.claim_batch(50, 300)

        held = set()
        for other in (first, second, third):
            assert other.claim is not None
            held |= {trigger.pk for trigger in other.claim.triggers}
        assert len(held) == 150
        assert len(claim.triggers) == 50
        assert not {trigger.pk for trigger in claim.triggers} & held


@skip_locked
def test_claim_skips_rows_whose_claim_committed_after_the_candidates_were_read(
    backlog: list[int],
) -> None:
    # A row another flusher claimed (and committed) is not due any more: the locking
    # read sees the committed row, not the snapshot the candidates came from.
    first = outbox.claim_batch(100, 300)
    second = outbox.claim_batch(100, 300)

    assert not {t.pk for t in first.triggers} & {t.pk for t in second.triggers}
    assert len(second.triggers) == 100


def test_check_reports_no_warning_for_the_outbox_indexes() -> None:
    # The index checks run only for the databases named (as migrate does).
    messages = checks.run_checks(tags=[checks.Tags.models], databases=["default"])

    assert [message for message in messages if message.id == "models.W037"] == []


def test_manage_py_check_prints_no_warning() -> None:
    checked = run("check", "--database", "default", env=command_env())

    assert checked.returncode == 0, checked.stderr
    assert "W037" not in checked.stdout + checked.stderr
    assert "no issues" in checked.stdout


@pytest.mark.skipif(connection.vendor != "mysql", reason="the claim plan on MariaDB and MySQL")
def test_claim_plan_on_mariadb_locks_by_primary_key_and_sorts_nothing(backlog: list[int]) -> None:
    query = outbox.lock_by_key(Trigger.objects.due(), backlog[:100])

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE TABLE {Trigger._meta.db_table}")
        sql, params = query.query.get_compiler(connection=connection).as_sql()
        cursor.execute("EXPLAIN " + sql, params)
        columns = [column[0] for column in cursor.description]
        plan = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]

    assert len(plan) == 1, plan
    assert plan[0]["key"] == "PRIMARY", plan
    assert "filesort" not in (plan[0]["Extra"] or ""), plan


def test_lock_by_key_takes_due_rows_oldest_first_up_to_size(backlog: list[int]) -> None:
    # The MariaDB and MySQL claim's selection, on any database (SQLite takes no locks).
    Trigger.objects.filter(pk__in=backlog[:10]).update(status=Status.SENT)

    with transaction.atomic():
        rows = outbox._lock_by_key(Trigger.objects.due(), 25)

    assert [row.pk for row in rows] == backlog[10:35]


def test_lock_by_key_reads_the_next_window_past_rows_it_cannot_take(
    backlog: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows held by other claims are skipped by the locking read; here, every other row
    # of each window "is held", so the claim reads further windows to fill its batch.
    real = outbox.lock_by_key

    def half_held(due: Any, ids: Any) -> Any:
        return real(due, [pk for pk in ids if pk % 2])

    monkeypatch.setattr(outbox, "lock_by_key", half_held)
    with transaction.atomic():
        rows = outbox._lock_by_key(Trigger.objects.due(), 20)

    odd = [pk for pk in backlog if pk % 2]
    assert [row.pk for row in rows] == odd[:20]
