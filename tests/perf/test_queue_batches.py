"""Batched dramatiq and huey paths on Redis send byte-for-byte what their executors send.

Real Redis (DB 9), real brokers / huey instances; messages are read back from Redis.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import airlock
from airlock import Intent
from tests.perf.conftest import DB, clock_figure
from tests.services import redis_url, require_module

pytestmark = pytest.mark.requires("redis")
LATER = datetime.now(timezone.utc) + timedelta(minutes=10)  # an eta ten minutes off


# -- huey -----------------------------------------------------------------------------------------
@pytest.fixture(params=["list", "priority"])
def huey(request: Any, redis_db: Any) -> Any:
    require_module("huey", "huey")
    from huey import PriorityRedisHuey, RedisHuey

    cls = RedisHuey if request.param == "list" else PriorityRedisHuey
    return cls("airlock_perf", url=redis_url(DB))


def huey_items(huey: Any) -> list[Any]:
    """What a huey consumer would read next, in order, without consuming it."""
    return [huey.deserialize_task(raw) for raw in huey.storage.enqueued_items()]


def as_fields(task: Any) -> tuple[Any, ...]:
    return (task.id, task.name, task.args, task.kwargs, task.eta, task.priority, task.expires)


def test_huey_batch_queues_what_huey_executor_queues(huey: Any) -> None:
    from airlock.integrations.executors.huey import HueyBatchExecutor, huey_executor

    @huey.task(name="perf.echo")
    def echo(*args: Any, **kwargs: Any) -> None:
        pass

    when = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    prioritized = {"priority": 5} if huey.storage.priority else {}
    intents = [
        Intent(task=echo, args=(1, "a"), kwargs={"k": [1]}),
        Intent(task=echo, args=(2,), key="key-2"),
        Intent(task=echo, args=(3,), dispatch_options={"eta": when, "retries": 2, **prioritized}),
        Intent(task=echo, args=(4,), dispatch_options={"expires": when}),
    ]
    for intent in intents:
        huey_executor(intent)
    stock_raw = huey.storage.enqueued_items()
    stock = huey_items(huey)
    huey.storage.flush_queue()

    HueyBatchExecutor().publish_all(intents)
    assert huey.storage.enqueued_items() == stock_raw  # byte for byte, same order
    assert [as_fields(t) for t in huey_items(huey)] == [as_fields(t) for t in stock]
    assert {t.id for t in stock} == {intents[0].id, "key-2", intents[2].id, intents[3].id}


def test_huey_batch_through_a_scope(huey: Any) -> None:
    from airlock.integrations.executors.huey import huey_batch_executor

    @huey.task(name="perf.add")
    def add(a: int, b: int) -> int:
        return a + b

    with airlock.scope(executor=huey_batch_executor):
        for i in range(20):
            airlock.enqueue(add, i, i, _dispatch_options={"delay": 60} if i == 3 else None)
        assert huey.storage.queue_size() == 0
    tasks = huey_items(huey)
    assert [t.args for t in tasks] == [(i, i) for i in range(20)]
    assert tasks[3].eta is not None and tasks[3].eta > datetime.utcnow() + timedelta(seconds=50)


# -- dramatiq -------------------------------------------------------------------------------------
@pytest.fixture
def broker(redis_db: Any) -> Any:
    require_module("dramatiq", "dramatiq")
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url(DB), namespace="airlock-perf")
    yield broker
    broker.close()


def dramatiq_messages(client: Any, queue: str) -> list[dict[str, Any]]:
    """Messages waiting on a dramatiq Redis queue, oldest first, emptying it."""
    ids = client.lrange(f"airlock-perf:{queue}", 0, -1)
    bodies = client.hgetall(f"airlock-perf:{queue}.msgs")
    client.delete(f"airlock-perf:{queue}", f"airlock-perf:{queue}.msgs")
    return [json.loads(bodies[i]) for i in ids]


def normalized(message: dict[str, Any]) -> dict[str, Any]:
    message = dict(message, options=dict(message["options"]))
    assert message["options"].pop("redis_message_id")  # a fresh uuid per enqueue, as dramatiq
    message.pop("message_timestamp")
    if "eta" in message["options"]:
        message["options"]["eta"] = clock_figure(message["options"]["eta"], LATER)
    return message


def test_dramatiq_batch_queues_what_dramatiq_executor_queues(broker: Any, redis_db: Any) -> None:
    import dramatiq

    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor, dramatiq_executor

    @dramatiq.actor(broker=broker, actor_name="perf_echo", queue_name="perf")
    def echo(*args: Any, **kwargs: Any) -> None:
        pass

    intents = [
        Intent(task=echo, args=(1, "a"), kwargs={"k": [1]}),
        Intent(task=echo, args=(2,), key="key-2", dispatch_options={"max_retries": 1}),
        Intent(task=echo, args=(3,), dispatch_options={"eta": LATER}),
        Intent(task=echo, args=(4,), dispatch_options={"queue_name": "perf_other"}),
    ]
    for intent in intents:
        dramatiq_executor(intent)
    stock = {q: dramatiq_messages(redis_db, q) for q in ("perf", "perf.DQ", "perf_other")}

    DramatiqBatchExecutor().publish_all(intents)
    ours = {q: dramatiq_messages(redis_db, q) for q in ("perf", "perf.DQ", "perf_other")}

    assert [len(m) for m in stock.values()] == [2, 1, 1]
    for queue in stock:
        assert [normalized(m) for m in ours[queue]] == [normalized(m) for m in stock[queue]]
    assert [m["message_id"] for m in ours["perf"]] == [intents[0].id, "key-2"]
