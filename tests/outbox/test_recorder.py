"""Enqueue side: durable intents are rows in the enqueuing transaction; the scope still rules."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db import transaction

import airlock
from airlock.integrations.django.outbox.relay import Relay
from tests.outbox.conftest import deliver, delivered, failures, flaky, not_registered, rows

pytestmark = pytest.mark.django_db(transaction=True)

DURABLE = {"durable": True}


def test_a_durable_intent_is_a_row_before_commit_and_sent_after() -> None:
    with airlock.scope(), transaction.atomic():
        Group.objects.create(name="order-1")
        airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
        (row,) = rows()
        assert (row.task, row.status) == ("airlock:tests.deliver", "pending")
        assert delivered == []
    assert delivered == [(1, "")]
    assert rows()[0].status == "sent"
    assert Relay().drain() == 0


def test_the_executor_never_sees_the_durable_option(settings: Any) -> None:
    seen: list[airlock.Intent] = []
    airlock.configure(executor=seen.append)
    with airlock.scope():
        airlock.enqueue(deliver, 1, _dispatch_options={"durable": True, "queue": "q"})
    assert [dict(i.dispatch_options) for i in seen] == [{"queue": "q"}]


def test_intents_are_not_durable_unless_asked() -> None:
    with airlock.scope():
        airlock.enqueue(deliver, 1)
        airlock.enqueue(deliver, 2, _dispatch_options={"durable": False})
    assert delivered == [(1, ""), (2, "")] and rows() == []


@pytest.mark.parametrize("durable", [True, ["deliver"], ("tests.deliver",)])
def test_durability_by_setting_for_everything_or_per_task_name(
    settings: Any, durable: Any
) -> None:
    settings.AIRLOCK = {"OUTBOX": {"DURABLE": durable}}
    with airlock.scope():
        airlock.enqueue(deliver, 1)
        airlock.enqueue(flaky, 2, _dispatch_options={"durable": False})
    assert [r.task for r in rows()] == ["airlock:tests.deliver"]


def test_an_argument_json_cannot_hold_fails_at_enqueue_and_nothing_is_kept() -> None:
    with airlock.scope() as scope:
        with pytest.raises(TypeError, match=r"keyword argument 'note' \(object\).*JSON"):
            airlock.enqueue(deliver, 1, note=object(), _dispatch_options=DURABLE)
        assert scope.intents == []
    assert delivered == [] and rows() == []


def test_a_task_no_registry_knows_fails_at_enqueue() -> None:
    with airlock.scope() as scope:
        with pytest.raises(TypeError, match=r"Register it with airlock\.integrations"):
            airlock.enqueue(not_registered, 1, _dispatch_options=DURABLE, _key="k")
        assert scope.intents == []
        airlock.enqueue(deliver, 1, _key="k")  # the failed key is free again
    assert delivered == [(1, "")]


def test_a_savepoint_rollback_removes_only_its_rows() -> None:
    with airlock.scope(), transaction.atomic():
        airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
        try:
            with transaction.atomic():
                Group.objects.create(name="order-2")
                airlock.enqueue(deliver, 2, _dispatch_options=DURABLE)
                assert len(rows()) == 2
                raise RuntimeError("payment declined")
        except RuntimeError:
            pass
        assert [r.payload.count('"args":[1]') for r in rows()] == [1]
        airlock.enqueue(deliver, 3, _dispatch_options=DURABLE)
    assert delivered == [(1, ""), (3, "")]
    assert len(rows(status="sent")) == 2 and len(rows()) == 2
    assert not Group.objects.exists()
    assert Relay().drain() == 0


def test_a_transaction_rollback_removes_its_rows_and_sends_nothing() -> None:
    with airlock.scope():
        with pytest.raises(RuntimeError), transaction.atomic():
            airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
            raise RuntimeError("boom")
    assert rows() == [] and delivered == []


def test_policy_dropped_intents_lose_their_row_and_never_send() -> None:
    with airlock.scope(policy=airlock.BlockTasks(["deliver"])), transaction.atomic():
        airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
        airlock.enqueue(flaky, 2, _dispatch_options=DURABLE)
    assert [r.task for r in rows()] == ["airlock:tests.flaky"]
    assert delivered == [(2, "flaky")]
    assert Relay().drain() == 0 and delivered == [(2, "flaky")]


def test_a_duplicate_key_keeps_one_row() -> None:
    with airlock.scope():
        airlock.enqueue(deliver, 1, _key="receipt-1", _dispatch_options=DURABLE)
        airlock.enqueue(deliver, 1, _key="receipt-1", _dispatch_options=DURABLE)
    assert [r.message_id for r in rows()] == ["receipt-1"]
    assert delivered == [(1, "")]


def test_a_discarded_scope_loses_its_rows_even_after_commit() -> None:
    with pytest.raises(RuntimeError), airlock.scope():
        with transaction.atomic():  # the data commits...
            Group.objects.create(name="order-3")
            airlock.enqueue(deliver, 3, _dispatch_options=DURABLE)
        raise RuntimeError("...but the unit of work fails afterwards")
    assert Group.objects.count() == 1
    assert rows() == [] and delivered == []
    assert Relay().drain() == 0


def test_rows_captured_by_an_outer_scope_are_written_once() -> None:
    with airlock.scope(), transaction.atomic():
        with airlock.scope():
            airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
    assert len(rows()) == 1 and delivered == [(1, "")]


def test_a_failed_in_process_send_is_left_to_the_relay() -> None:
    failures["flaky"] = 1
    with airlock.scope(), transaction.atomic():
        airlock.enqueue(flaky, 5, _dispatch_options=DURABLE)
    (row,) = rows()
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "ConnectionError: broker unreachable",
    )
    assert Relay().drain() == 1
    assert delivered == [(5, "flaky")] and rows()[0].status == "sent"


def test_fate_events_are_followed_only_while_a_row_waits_for_one(settings: Any) -> None:
    from airlock import _events
    from airlock.integrations.django.outbox.recorder import _on_event

    settings.AIRLOCK = {"OUTBOX": {"DURABLE": True}}  # durable without a dispatch option
    with airlock.scope(), transaction.atomic():
        airlock.enqueue(deliver, 1)
        assert _on_event in _events.listeners
    assert _on_event not in _events.listeners
    assert rows()[0].status == "sent" and delivered == [(1, "")]


def test_rows_of_a_batch_are_marked_sent_only_once_its_after_flush_went() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    class Batching:
        def __init__(self) -> None:
            self.pending: list[airlock.Intent] = []
            self.flushed: list[list[airlock.Intent]] = []

        def __call__(self, intent: airlock.Intent) -> None:
            self.pending.append(intent)

        def after_flush(self) -> None:
            self.flushed.append(self.pending)
            self.pending = []

    executor = Batching()
    with CaptureQueriesContext(connection) as queries:
        with airlock.scope(executor=executor), transaction.atomic():
            for n in range(5):
                airlock.enqueue(deliver, n, _dispatch_options=DURABLE)
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    # One UPDATE per row, each written after the batch's after_flush() returned.
    assert len(updates) == 5 and all("airlock_outbox_message" in u for u in updates)
    assert [len(batch) for batch in executor.flushed] == [5]  # its own after_flush still runs
    assert len(rows(status="sent")) == 5
