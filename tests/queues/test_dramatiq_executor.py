"""dramatiq_executor and ScopeMiddleware on dramatiq's StubBroker with an in-process Worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("dramatiq")

import dramatiq
from dramatiq.brokers.stub import StubBroker

import airlock
from airlock.integrations.dramatiq import ScopeMiddleware
from airlock.integrations.executors.dramatiq import dramatiq_executor

runs: list[tuple[object, ...]] = []


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    broker.emit_after("process_boot")
    broker.add_middleware(ScopeMiddleware())
    runs.clear()
    yield broker
    broker.flush_all()
    broker.close()


@pytest.fixture
def actors(broker: StubBroker) -> dict[str, dramatiq.Actor]:  # type: ignore[type-arg]
    def record(label: str, *args: object, **kwargs: object) -> None:
        runs.append((label, args, kwargs))

    def parent(label: str, fail: bool = False) -> None:
        airlock.enqueue(table["record"], f"{label}-child")
        if fail:
            raise RuntimeError("parent failed after enqueueing")

    table = {
        "record": dramatiq.actor(record, broker=broker, queue_name="q_main"),
        "parent": dramatiq.actor(parent, broker=broker, queue_name="q_main", max_retries=0),
    }
    broker.declare_queue("q_other")
    return table


def run_worker(broker: StubBroker, *queues: str) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        for queue in queues or ("q_main",):
            broker.join(queue, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def test_sends_args_kwargs_and_key_as_message_id(broker, actors):
    with airlock.scope(executor=dramatiq_executor):
        airlock.enqueue(actors["record"], "a", 1, x=[2])
        airlock.enqueue(actors["record"], "b", _key="order-7")
        assert broker.queues["q_main"].qsize() == 0
    messages = [dramatiq.Message.decode(m) for m in list(broker.queues["q_main"].queue)]
    assert [(m.args, m.kwargs) for m in messages] == [(("a", 1), {"x": [2]}), (("b",), {})]
    assert messages[1].message_id == "order-7"
    assert messages[0].message_id  # the intent id
    run_worker(broker)
    assert runs == [("a", (1,), {"x": [2]}), ("b", (), {})]


def test_intent_id_becomes_message_id(broker, actors):
    with airlock.scope(executor=dramatiq_executor):
        intent = airlock.enqueue(actors["record"], "a")
    (raw,) = broker.queues["q_main"].queue
    assert dramatiq.Message.decode(raw).message_id == intent.id


def test_delay_becomes_absolute_eta_at_enqueue(broker, actors):
    with airlock.scope(executor=dramatiq_executor):
        before = datetime.now(timezone.utc)
        intent = airlock.enqueue(actors["record"], "later", _dispatch_options={"delay": 60_000})
        assert "delay" not in intent.dispatch_options
        eta = intent.dispatch_options["eta"]
        assert before + timedelta(seconds=59) < eta < before + timedelta(seconds=61)
        # the same intent flushed late keeps its eta: the delay counts from enqueue
    (raw,) = broker.queues["q_main.DQ"].queue
    message = dramatiq.Message.decode(raw)
    assert abs(message.options["eta"] - eta.timestamp() * 1000) < 50
    assert broker.queues["q_main"].qsize() == 0


def test_queue_name_and_message_options(broker, actors):
    with airlock.scope(executor=dramatiq_executor):
        airlock.enqueue(
            actors["record"], "x", _dispatch_options={"queue_name": "q_other", "max_retries": 2}
        )
    (raw,) = broker.queues["q_other"].queue
    message = dramatiq.Message.decode(raw)
    assert message.queue_name == "q_other" and message.options["max_retries"] == 2
    run_worker(broker, "q_other")
    assert runs == [("x", (), {})]


def test_unknown_option_fails_at_enqueue_and_middleware_options_are_known(broker, actors):
    from airlock.exceptions import UnknownOptionError

    class Tagging(dramatiq.Middleware):  # a middleware of the user's, with an option of its own
        actor_options = {"tag"}

    broker.add_middleware(Tagging())
    with airlock.scope(executor=dramatiq_executor) as scope:
        airlock.enqueue(actors["record"], "t", _dispatch_options={"tag": "blue", "max_age": 9000})
        with pytest.raises(UnknownOptionError, match=r"'max_retires' \(did you mean"):
            airlock.enqueue(actors["record"], "u", _dispatch_options={"max_retires": 1})
    assert len(scope.intents) == 1
    (raw,) = broker.queues["q_main"].queue
    assert dramatiq.Message.decode(raw).options == {"tag": "blue", "max_age": 9000}


def test_json_rejected_argument_fails_at_enqueue_naming_it(broker, actors):
    with airlock.scope(executor=dramatiq_executor) as scope:
        with pytest.raises(TypeError, match=r"argument 'when' \(datetime"):
            airlock.enqueue(actors["record"], "a", when=datetime.now())
        with pytest.raises(TypeError, match=r"argument 1 \(lock"):
            airlock.enqueue(actors["record"], "a", threading.Lock())
        assert scope.intents == []


def test_plain_function_runs_synchronously(broker):
    seen = []
    with airlock.scope(executor=dramatiq_executor):
        airlock.enqueue(seen.append, 1)
        assert seen == []
    assert seen == [1]


def test_middleware_sends_follow_up_only_when_the_actor_succeeds(broker, actors):
    airlock.configure(executor=dramatiq_executor)
    actors["parent"].send("bad", fail=True)
    actors["parent"].send("ok")
    run_worker(broker)
    run_worker(broker)  # the follow-up sent by the successful parent
    assert runs == [("ok-child", (), {})]


def test_eta_already_passed_at_flush_sends_at_once(broker, actors):
    past = datetime.now(timezone.utc) - timedelta(seconds=5)
    with airlock.scope(executor=dramatiq_executor):
        airlock.enqueue(actors["record"], "late", _dispatch_options={"eta": past})
    assert broker.queues["q_main"].qsize() == 1
    assert broker.queues["q_main.DQ"].qsize() == 0
