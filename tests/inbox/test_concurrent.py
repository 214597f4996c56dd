"""Deliveries of one message at the same moment on PostgreSQL and MariaDB: one applies, never both.

Each thread has its own connection (a worker of its own). The second delivery's insert waits
on the first's uncommitted row (seen in ``pg_stat_activity``, or MariaDB's process list), then
skips it, or applies it when the first rolled back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from airlock.integrations.django.inbox import run_once
from airlock.integrations.django.inbox.models import InboxMessage
from tests.django.models import Note
from tests.processes import wait_until

if connection.vendor not in ("postgresql", "mysql"):
    pytest.skip("needs PostgreSQL or MariaDB (AIRLOCK_TEST_DB)", allow_module_level=True)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("claim"),  # every test with each way of inserting the row
]


def deliver(results: dict[str, Any], name: str, body: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        try:
            results[name] = run_once("order-7", body, task="shop.charge")
        except Exception as exc:
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def waiting_on_a_lock() -> bool:
    if connection.vendor == "mysql":
        # InnoDB's innodb_trx may not list the waiter yet; the process list shows its insert.
        query = (
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
            "AND COMMAND = 'Query' AND INFO LIKE 'INSERT INTO `airlock_inbox_message`%'"
        )
    else:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    with connection.cursor() as cursor:
        cursor.execute(query)
        return bool(cursor.fetchone()[0])


@pytest.mark.parametrize("first_fails", [False, True])
def test_the_second_delivery_waits_then_skips_or_applies(first_fails: bool) -> None:
    inside, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def body() -> str:
        name = threading.current_thread().name
        ran.append(name)
        Note.objects.create(text=f"charged by {name}")
        if name == "first":
            inside.set()
            assert release.wait(30)
            if first_fails:
                raise ConnectionError("the first worker's task fails")
        return name

    results: dict[str, Any] = {}
    first = deliver(results, "first", body)
    assert inside.wait(30)
    second = deliver(results, "second", body)
    wait_until(waiting_on_a_lock, timeout=30, what="the second delivery to wait on the row")
    assert ran == ["first"]  # the second is blocked in its insert, its body not started
    release.set()
    first.join(30)
    second.join(30)
    if first_fails:
        assert isinstance(results["first"], ConnectionError)
        assert results["second"].applied and ran == ["first", "second"]
        assert list(Note.objects.values_list("text", flat=True)) == ["charged by second"]
    else:
        assert results["first"].applied and results["first"].result == "first"
        assert not results["second"].applied and ran == ["first"]
        assert list(Note.objects.values_list("text", flat=True)) == ["charged by first"]
    assert InboxMessage.objects.count() == 1


def test_eight_workers_racing_over_the_same_messages_apply_each_once() -> None:
    ids = [f"order-{n}" for n in range(40)]
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(10)
            for message_id in ids:
                run_once(message_id, Note.objects.create, kwargs={"text": message_id})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    texts = list(Note.objects.values_list("text", flat=True))
    assert sorted(texts) == sorted(ids)  # each applied exactly once
    assert InboxMessage.objects.count() == 40
