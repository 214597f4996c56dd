"""dramatiq's batched Redis path: one script call per chunk, and every failure's fates.

Real Redis (DB 9), real ``RedisBroker``s. The script calls are counted with Redis's own MONITOR;
a lost reply is a real TCP proxy that drops it (tests/perf/proxy.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airlock import Intent
from airlock.exceptions import BatchDispatchError
from tests.perf.conftest import DB, fates_of_an_interrupted_flush, interrupt
from tests.perf.proxy import ReplyDropper
from tests.processes import wait_until
from tests.services import redis_url, require_module

pytestmark = pytest.mark.requires("redis")
NAMESPACE = "airlock-perf-batch"


@pytest.fixture
def broker(redis_db: Any) -> Iterator[Any]:
    require_module("dramatiq", "dramatiq")
    from dramatiq.brokers.redis import RedisBroker

    broker = RedisBroker(url=redis_url(DB), namespace=NAMESPACE)
    yield broker
    broker.close()


def actor(broker: Any, queue: str = "perf") -> Any:
    import dramatiq

    @dramatiq.actor(broker=broker, actor_name=f"perf_batch_{queue}", queue_name=queue)
    def echo(*args: Any) -> None:
        pass

    return echo


def queued(client: Any, queue: str) -> list[str]:
    """Message ids waiting on a queue (each with its stored body), oldest first."""
    import json

    bodies = client.hgetall(f"{NAMESPACE}:{queue}.msgs")
    ids = client.lrange(f"{NAMESPACE}:{queue}", 0, -1)
    return [json.loads(bodies[i])["message_id"] for i in ids]


def test_a_flush_is_one_script_call_per_chunk(broker: Any, redis_db: Any) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(250)]
    DramatiqBatchExecutor(chunk_size=100).publish_all(intents[:2])  # the script is loaded
    redis_db.flushdb()
    calls: list[str] = []
    db = int(urlsplit(redis_url(DB)).path.strip("/"))
    ready = threading.Event()

    def watch() -> None:
        with redis_db.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                text = command["command"]
                if text.startswith("ECHO airlock-perf-stop"):
                    return
                name = text.split(" ", 1)[0]
                if command.get("db") != db or command.get("client_type") == "lua":
                    continue  # another helper's database, or the script's own calls
                if name in {"EVALSHA", "EVAL", "HSET", "RPUSH", "MULTI"}:
                    calls.append(name)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ready.wait(5)
    DramatiqBatchExecutor(chunk_size=100).publish_all(intents)
    redis_db.echo("airlock-perf-stop")
    watcher.join(10)
    assert calls == ["EVALSHA"] * 3  # 250 messages, chunks of 100: three round trips
    assert queued(redis_db, "perf") == [i.id for i in intents]


def test_a_message_redis_refuses_is_unsent_and_the_others_sent(
    broker: Any, redis_db: Any
) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    good, bad = actor(broker, "perf"), actor(broker, "perf_bad")
    redis_db.set(f"{NAMESPACE}:perf_bad", "not a list")  # RPUSH on it: WRONGTYPE
    intents = [Intent(task=good, args=(1,)), Intent(task=bad, args=(2,))]
    intents += [Intent(task=good, args=(3,))]
    with pytest.raises(BatchDispatchError) as info:
        DramatiqBatchExecutor().publish_all(intents)
    error = info.value
    assert error.sent == [intents[0], intents[2]]
    assert (error.unsent, error.in_doubt) == ([intents[1]], [])
    assert "WRONGTYPE" in str(error.errors[0][1])
    assert queued(redis_db, "perf") == [intents[0].id, intents[2].id]


def test_a_message_that_cannot_be_built_stops_the_rest_after_the_earlier_ones(
    broker: Any, redis_db: Any
) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(3)]
    intents.insert(1, Intent(task=echo, args=(object(),)))  # dramatiq's JSON encoder refuses it
    with pytest.raises(BatchDispatchError) as info:
        DramatiqBatchExecutor().publish_all(intents)
    assert info.value.sent == intents[:1]
    assert info.value.unsent == intents[1:]
    assert queued(redis_db, "perf") == [intents[0].id]


def test_redis_unreachable_means_all_unsent() -> None:
    require_module("dramatiq", "dramatiq")
    import socket

    from dramatiq.brokers.redis import RedisBroker

    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = RedisBroker(url=f"redis://127.0.0.1:{port}/0", namespace=NAMESPACE)
    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(3)]
    with pytest.raises(BatchDispatchError) as info:
        DramatiqBatchExecutor().publish_all(intents)
    assert (info.value.sent, info.value.unsent, info.value.in_doubt) == ([], intents, [])


def test_a_lost_reply_means_the_chunk_is_in_doubt_and_not_sent_again(redis_db: Any) -> None:
    require_module("dramatiq", "dramatiq")
    from dramatiq.brokers.redis import RedisBroker

    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    db = urlsplit(redis_url(DB)).path
    port = urlsplit(redis_url(DB)).port or 6379
    proxy = ReplyDropper(port)
    broker = RedisBroker(url=f"redis://127.0.0.1:{proxy.port}{db}", namespace=NAMESPACE)
    try:
        echo = actor(broker)
        executor = DramatiqBatchExecutor(chunk_size=3)
        executor.publish_all([Intent(task=echo, args=(0,))] * 2)  # connected, script loaded
        redis_db.flushdb()
        intents = [Intent(task=echo, args=(i,)) for i in range(5)]
        proxy.arm()
        with pytest.raises(BatchDispatchError) as info:
            executor.publish_all(intents)
        error = info.value
        # The first chunk ran (its reply was lost); the second was never sent.
        assert (error.sent, error.in_doubt, error.unsent) == ([], intents[:3], intents[3:])
        assert proxy.dropped.is_set()
        landed = wait_until(lambda: queued(redis_db, "perf"), timeout=5, what="the chunk")
        assert landed == [i.id for i in intents[:3]]  # in doubt, and in fact queued: once each
        proxy.armed.clear()  # the network is back: the next flush goes through
        executor.publish_all(intents[3:])
        assert queued(redis_db, "perf") == [i.id for i in intents]
    finally:
        broker.close()
        proxy.close()


def test_an_interrupt_between_chunks_leaves_the_sent_ones_dispatched(
    broker: Any, redis_db: Any, monkeypatch: Any
) -> None:
    from airlock.integrations.executors import _dramatiq_redis
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    DramatiqBatchExecutor().publish_all([Intent(task=echo, args=(-1,))])  # the script is loaded
    redis_db.flushdb()
    interrupt(monkeypatch, _dramatiq_redis, "_call", call=2)
    fates = fates_of_an_interrupted_flush(DramatiqBatchExecutor(chunk_size=2), echo, 5)
    assert fates == ["dispatched"] * 2 + ["failed"] * 3
    assert len(queued(redis_db, "perf")) == 2
