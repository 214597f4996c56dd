"""Metrics: intents by fate and task name, and the time from enqueue to hand-over."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

import airlock
from airlock.policies import DropAll
from tests.otel.conftest import Telemetry
from tests.recording import Plain


def send_receipt(order_id: int) -> None:
    pass


def charge(order_id: int) -> None:
    pass


def test_intents_are_counted_by_fate_and_task_name(telemetry: Telemetry):
    with airlock.scope(executor=Plain()):
        airlock.enqueue(send_receipt, 1)
        airlock.enqueue(send_receipt, 2)
        airlock.enqueue(charge, 1)
    with airlock.scope(executor=Plain(), policy=DropAll()):
        airlock.enqueue(send_receipt, 3)
    counts = {
        (p.attributes["airlock.fate"], p.attributes["airlock.task.name"]): p.value
        for p in telemetry.points("airlock.intents")
    }
    assert counts == {
        ("dispatched", "send_receipt"): 2,
        ("dispatched", "charge"): 1,
        ("dropped", "send_receipt"): 1,
    }


def test_the_delay_from_enqueue_to_hand_over_is_a_histogram(telemetry: Telemetry):
    clock_before = __import__("time").time()
    with airlock.scope(executor=Plain()):
        airlock.enqueue(send_receipt, 1)
        airlock.enqueue(send_receipt, 2)
    elapsed = __import__("time").time() - clock_before
    (point,) = telemetry.points("airlock.dispatch.delay")
    assert point.attributes == {"airlock.task.name": "send_receipt"}
    assert point.count == 2
    assert 0 <= point.sum <= 2 * elapsed
