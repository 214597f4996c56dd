"""One row's failure settles that row alone, even a database error inside its task.

Runs on SQLite and on PostgreSQL (``AIRLOCK_TEST_DB=postgres``), where a failed query aborts the
whole transaction: without a savepoint per row, one such task would roll the batch back and
the relay would repeat the rows before it for ever.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection

from airlock.integrations.django import outbox
from airlock.integrations.django.outbox.relay import Relay
from tests.outbox.conftest import delivered, rows, stored

pytestmark = pytest.mark.django_db(transaction=True)


@outbox.register(name="tests.record_order")
def record_order(n: int) -> None:
    """A good task: its effect is a row of its own (it commits with the batch) and a delivery."""
    Group.objects.create(name=f"order-{n}")
    delivered.append((n, "order"))


@outbox.register(name="tests.broken_query")
def broken_query(n: int, sql: str, swallow: bool = False) -> None:
    """Writes, then runs ``sql`` through the ORM's connection; ``swallow`` catches the error."""
    Group.objects.create(name=f"broken-{n}")  # an effect the failure must take back
    try:
        list(Group.objects.raw(sql))
    except DatabaseError:
        if not swallow:
            raise


DIVISION = "SELECT 1/0 AS id"  # PostgreSQL: DataError, and the transaction is aborted
NO_TABLE = "SELECT id FROM airlock_no_such_table"  # an error on every database


def cases() -> list[Any]:
    postgres = pytest.mark.skipif(
        connection.vendor != "postgresql", reason="SQLite evaluates 1/0 to NULL"
    )
    return [
        pytest.param(DIVISION, False, marks=postgres, id="division-by-zero"),
        pytest.param(NO_TABLE, False, id="missing-table"),
        pytest.param(DIVISION, True, marks=postgres, id="division-by-zero-caught-by-the-task"),
    ]


@pytest.mark.parametrize(("sql", "swallow"), cases())
def test_a_task_with_a_database_error_settles_alone_and_the_relay_moves_on(
    sql: str, swallow: bool
) -> None:
    for n in (1, 2):
        stored(record_order, n)
    stored(broken_query, 3, sql, swallow)
    for n in (4, 5):
        stored(record_order, n)
    relay = Relay()
    for _ in range(3):  # MAX_ATTEMPTS = 3, no backoff: each drain retries the bad row
        relay.drain()
    assert delivered == [(n, "order") for n in (1, 2, 4, 5)]  # each good row's effect once
    names = sorted(Group.objects.values_list("name", flat=True))
    assert names == ["order-1", "order-2", "order-4", "order-5"]  # the failed row's write undone
    statuses = [(r.task, r.status, r.attempts) for r in rows()]
    assert statuses == [
        ("airlock:tests.record_order", "sent", 1),
        ("airlock:tests.record_order", "sent", 1),
        ("airlock:tests.broken_query", "dead", 3),
        ("airlock:tests.record_order", "sent", 1),
        ("airlock:tests.record_order", "sent", 1),
    ]
    assert relay.counts.as_dict() == {"sent": 4, "retried": 2, "dead": 1}
    assert relay.drain() == 0  # nothing left, nothing repeated
    assert len(delivered) == 4


def test_a_batching_executor_still_gets_the_whole_batch_in_one_after_flush() -> None:
    class Batching:
        def __init__(self) -> None:
            self.pending: list[Any] = []
            self.flushed: list[list[Any]] = []

        def __call__(self, intent: Any) -> None:
            self.pending.append(intent)

        def after_flush(self) -> None:
            self.flushed.append(self.pending)
            self.pending = []

    executor = Batching()
    for n in range(4):
        stored(record_order, n)
    Relay(executor=executor).drain()
    assert [[i.args for i in batch] for batch in executor.flushed] == [[(0,), (1,), (2,), (3,)]]
    assert len(rows(status="sent")) == 4
