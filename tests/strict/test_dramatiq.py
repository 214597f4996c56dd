"""Strict mode with dramatiq's StubBroker: ``send`` / ``send_with_options`` are watched."""

from __future__ import annotations

import pytest

pytest.importorskip("dramatiq")

import dramatiq
from dramatiq.brokers.stub import StubBroker

from airlock.integrations.executors.dramatiq import dramatiq_executor
from tests.strict.suite import Case, StrictSuite, call_sites


def record(label: str) -> None:
    pass


@pytest.fixture
def case():
    broker = StubBroker()
    actor = dramatiq.actor(record, broker=broker, queue_name="strict")

    def sent() -> int:
        return broker.queues["strict"].qsize()

    def originals() -> list[bool]:
        return [dramatiq.Actor.send_with_options.__module__ == "dramatiq.actor"]

    yield Case(
        bypass=lambda: actor.send("x"),  # BYPASS
        bypass_again=lambda: actor.send_with_options(args=("y",)),  # BYPASS
        sites=call_sites(__file__),
        task=actor,
        executor=dramatiq_executor,
        sent=sent,
        originals=originals,
    )
    broker.close()


class TestDramatiq(StrictSuite):
    pass
