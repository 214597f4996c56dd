"""Ordering keys: the relay sends a key's rows one at a time, oldest first; other keys flow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

import airlock
from airlock.exceptions import DispatchError
from airlock.integrations.django.outbox import recorder
from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay
from airlock.testing import capture
from tests.outbox.conftest import rows
from tests.outbox.ordering import (
    Recording,
    check_order,
    make_ordered_rows,
    ordered,
    run_relays,
)

pytestmark = pytest.mark.django_db
HOUR = timedelta(hours=1)


def store(key: str, seq: int) -> None:
    """A committed, released row for ``ordered(key, seq)``, as the in-process flush leaves it."""
    intent = airlock.Intent(task=ordered, args=(key, seq), dispatch_options={"ordering_key": key})
    recorder.record(intent)
    recorder.forget(intent.id)


def test_one_relay_sends_each_keys_rows_in_order() -> None:
    total = make_ordered_rows(keys=3, per_key=20)
    sent = Recording()
    assert Relay(executor=sent, batch_size=7).drain() == total  # drain goes on past short batches
    check_order(sent.sent, keys=3, per_key=20)
    assert {r.status for r in rows()} == {"sent"}


def test_a_batch_sends_each_keys_ready_rows_after_its_head() -> None:
    for seq in range(3):
        store("a", seq)
        store("b", seq)
    store("c", 0)  # no ordering key: flows as before
    OutboxMessage.objects.filter(ordering_key="c").update(ordering_key=None)
    sent = Recording()
    assert Relay(executor=sent).run_batch() == 7
    assert sent.sent == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1), ("b", 2), ("c", 0)]


def test_a_row_not_ready_ends_its_keys_run() -> None:
    for seq in range(3):
        store("a", seq)
    OutboxMessage.objects.filter(pk=rows()[1].pk).update(available_at=timezone.now() + HOUR)
    sent = Recording()
    Relay(executor=sent).drain()
    assert sent.sent == [("a", 0)]  # a1 waits (for its scope, a retry), so a2 waits too


class Batching(Recording):
    """A batching executor: records at after_flush, as a broker batch would go out."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[airlock.Intent] = []

    def __call__(self, intent: airlock.Intent) -> None:
        self.held.append(intent)

    def after_flush(self) -> None:
        for intent in self.held:
            super().__call__(intent)
        self.held.clear()


def test_a_batching_executor_gets_one_row_per_key_per_batch() -> None:
    # its sends happen together at after_flush: a failure there could not hold back the rest
    for seq in range(3):
        store("a", seq)
        store("b", seq)
    sent = Batching()
    relay = Relay(executor=sent)
    assert relay.run_batch() == 6  # claimed; the rows after each head are left untouched
    assert sent.sent == [("a", 0), ("b", 0)]
    assert [r.attempts for r in rows(ordering_key="a")] == [1, 0, 0]
    relay.drain()
    assert [s for k, s in sent.sent if k == "a"] == [0, 1, 2]


def test_a_failing_head_holds_back_its_key_but_not_the_others() -> None:
    for seq in range(4):
        store("a", seq)
        store("b", seq)
    sent = Recording(failing=("a", 0), fails=2)
    relay = Relay(executor=sent)
    relay.run_batch()  # a0 fails (retry at once: BACKOFF 0): a1-a3 wait; b0-b3 go
    assert sent.sent == [("b", 0), ("b", 1), ("b", 2), ("b", 3)]
    assert [r.attempts for r in rows(ordering_key="a")] == [1, 0, 0, 0]
    relay.run_batch()  # a0 fails again
    assert rows(ordering_key="a", status="sent") == []
    relay.drain()
    assert [s for k, s in sent.sent if k == "a"] == [0, 1, 2, 3]
    assert [s for k, s in sent.sent if k == "b"] == [0, 1, 2, 3]
    assert relay.counts.as_dict() == {"sent": 8, "retried": 2, "dead": 0}


def test_a_dead_head_releases_its_key() -> None:
    for seq in range(3):
        store("a", seq)
    sent = Recording(failing=("a", 0), fails=99)
    relay = Relay(executor=sent)  # MAX_ATTEMPTS is 3 here
    relay.drain()
    assert sent.sent == [("a", 1), ("a", 2)]
    assert [r.status for r in rows()] == ["dead", "sent", "sent"]


def test_a_head_waiting_for_its_scope_or_a_retry_holds_its_key(settings: Any) -> None:
    store("a", 0)
    store("a", 1)
    store("b", 0)
    head = rows(ordering_key="a")[0]
    head.available_at = timezone.now() + HOUR  # e.g. backing off
    head.save()
    sent = Recording()
    Relay(executor=sent).drain()
    assert sent.sent == [("b", 0)]


@pytest.mark.django_db(transaction=True)  # a real commit runs the scope's dispatch
def test_in_process_flush_hands_ordered_intents_to_the_relay(
    settings: Any, outbox_settings: dict[str, Any]
) -> None:
    settings.AIRLOCK = {"OUTBOX": {**outbox_settings, "GRACE": 3600}}  # released, not undecided
    seen: list[airlock.Intent] = []
    with capture() as events:
        with airlock.scope(executor=seen.append), transaction.atomic():
            for seq in range(3):
                airlock.enqueue(ordered, "a", seq, _dispatch_options={"ordering_key": "a"})
            airlock.enqueue(ordered, "x", 0)  # not ordered, not durable: sent in-process
    assert [i.args for i in seen] == [("x", 0)]
    assert [r.status for r in rows()] == ["pending"] * 3  # released to the relay, not sent
    assert events.dispatched and len(events.dispatched) == 4
    sent = Recording()
    Relay(executor=sent).drain()
    assert sent.sent == [("a", 0), ("a", 1), ("a", 2)]


@pytest.mark.django_db(transaction=True)
def test_a_released_ordered_row_is_not_undecided(
    settings: Any, outbox_settings: dict[str, Any]
) -> None:
    settings.AIRLOCK = {"OUTBOX": {**outbox_settings, "GRACE": 3600, "UNDECIDED": "dead"}}
    with airlock.scope(), transaction.atomic():
        airlock.enqueue(ordered, "a", 0, _dispatch_options={"ordering_key": "a"})
    store("a", 1)  # never released: its process died; it waits out GRACE, then is dead
    OutboxMessage.objects.filter(pk=rows()[1].pk).update(available_at=rows()[0].created_at)
    sent = Recording()
    Relay(executor=sent).drain()
    assert sent.sent == [("a", 0)]
    assert [r.status for r in rows()] == ["sent", "dead"]


@pytest.mark.django_db(transaction=True)
def test_a_dropped_ordered_intent_loses_its_row() -> None:
    with airlock.scope(policy=airlock.DropAll()), transaction.atomic():
        airlock.enqueue(ordered, "a", 0, _dispatch_options={"ordering_key": "a"})
    assert rows() == []


def test_an_ordering_key_must_be_a_string_and_durable() -> None:
    with airlock.scope():
        with pytest.raises(TypeError, match="ordering_key must be a string"):
            airlock.enqueue(ordered, "a", 0, _dispatch_options={"ordering_key": 7})
        with pytest.raises(ValueError, match="durable=False"):
            airlock.enqueue(
                ordered, "a", 0, _dispatch_options={"ordering_key": "a", "durable": False}
            )
    assert rows() == []


def test_a_plain_scope_refuses_to_send_an_ordered_intent() -> None:
    with pytest.raises(DispatchError, match="no outbox row"):
        with airlock.Scope(executor=lambda intent: None):
            airlock.enqueue(ordered, "a", 0, _dispatch_options={"ordering_key": "a"})


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite: one relay at a time")
def test_four_relays_keep_each_keys_order_while_a_head_fails_twice() -> None:
    # The e2e suite runs the 10,000 rows over 100 keys; this is the quick version.
    keys, per_key = 40, 50
    total = make_ordered_rows(keys, per_key)
    sent = Recording(failing=("k3", 0), fails=2)
    run_relays(4, sent, total, deadline=60, batch_size=10)
    check_order(sent.sent, keys, per_key)
    assert sent.failed == 2
    assert OutboxMessage.objects.filter(status="sent").count() == total
