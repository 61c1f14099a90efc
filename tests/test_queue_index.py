"""The claim query's indexes: built where they serve it, and used by the planner."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from django_brockman.models import Status, Trigger

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the partial index is built on PostgreSQL only"
)


def trigger_indexes() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Trigger._meta.db_table)
    return {name for name, info in constraints.items() if info["index"]}


def test_queue_index_is_built_only_where_it_serves_the_claim() -> None:
    indexes = trigger_indexes()

    assert "brockman_due_idx" in indexes
    assert ("brockman_queue_idx" in indexes) == (connection.vendor == "postgresql")


@on_postgresql
def test_claim_plan_on_postgresql_reads_a_backlog_in_order_past_the_sent_history() -> None:
    # With a backlog, brockman_due_idx would hand every due row to a sort; the queue
    # index yields them in claim order, so the claim stops after its batch.
    Trigger.objects.bulk_create(
        Trigger(actor_id="a", action="viewed", obj=f"page {n}", status=Status.SENT)
        for n in range(3000)
    )
    Trigger.objects.bulk_create(
        Trigger(actor_id="a", action="viewed", obj=f"new {n}") for n in range(3000)
    )
    query = Trigger.objects.due().select_for_update(skip_locked=True)[:100]

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Trigger._meta.db_table}")
        sql, params = query.query.get_compiler(connection=connection).as_sql()
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "Index Scan using brockman_queue_idx" in plan, plan
    assert "Sort" not in plan, plan
