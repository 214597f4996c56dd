"""dramatiq's batched RabbitMQ path: the messages ``RabbitmqBroker.enqueue`` publishes, and fates.

Real RabbitMQ (queues named ``matrix_*``, deleted after each test), real ``RabbitmqBroker``s.
Messages are read back with ``basic_get``. Refusals are real: a queue deleted after dramatiq
declared it (RabbitMQ returns the messages), a full queue with ``x-overflow: reject-publish``
(RabbitMQ nacks them); a lost confirm is a real TCP proxy that drops it (tests/perf/proxy.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airlock import Intent
from airlock.exceptions import BatchDispatchError
from tests.perf.conftest import clock_figure, fates_of_an_interrupted_flush
from tests.perf.proxy import ReplyDropper
from tests.processes import wait_until
from tests.services import SERVICES, amqp_url, require_module, require_service

pytestmark = pytest.mark.requires("rabbitmq")
QUEUE = "matrix_perf"
OTHER = "matrix_perf_other"
ALL_QUEUES = [f"{q}{s}" for q in (QUEUE, OTHER) for s in ("", ".DQ", ".XQ")]
LATER = datetime.now(timezone.utc) + timedelta(minutes=10)  # an eta ten minutes off


@pytest.fixture
def channel() -> Iterator[Any]:
    """A plain pika channel to read queues with; the test's queues are deleted before and after."""
    require_service("rabbitmq")
    require_module("dramatiq", "dramatiq")
    require_module("pika", "dramatiq")
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
    channel = connection.channel()
    for queue in ALL_QUEUES:
        channel.queue_delete(queue)
    yield channel
    for queue in ALL_QUEUES:
        channel.queue_delete(queue)
    connection.close()


def make_broker(url: str | None = None) -> Any:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url or amqp_url(), max_priority=10)


@pytest.fixture
def broker(channel: Any) -> Iterator[Any]:
    broker = make_broker()
    yield broker
    broker.close()


def actor(broker: Any) -> Any:
    import dramatiq

    @dramatiq.actor(broker=broker, actor_name="matrix_echo", queue_name=QUEUE)
    def echo(*args: Any, **kwargs: Any) -> None:
        pass

    return echo


def drain(channel: Any, queue: str) -> list[tuple[dict[str, Any], int, int | None]]:
    """(message, delivery mode, priority) of every message on ``queue``, oldest first."""
    found = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return found
        found.append((json.loads(body), properties.delivery_mode, properties.priority))


def queued(channel: Any, queues: dict[str, int]) -> dict[str, int]:
    """How many messages each queue holds now."""
    return {q: channel.queue_declare(q, passive=True).method.message_count for q in queues}


def normalized(item: tuple[dict[str, Any], int, int | None]) -> Any:
    message, mode, priority = item
    message = dict(message, options=dict(message["options"]))
    message.pop("message_timestamp")
    if "eta" in message["options"]:
        message["options"]["eta"] = clock_figure(message["options"]["eta"], LATER)
    return message, mode, priority


def test_batch_publishes_what_dramatiq_executor_publishes(broker: Any, channel: Any) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor, dramatiq_executor

    echo = actor(broker)
    intents = [
        Intent(task=echo, args=(1, "a"), kwargs={"k": [1]}),
        Intent(task=echo, args=(2,), key="key-2", dispatch_options={"max_retries": 1}),
        Intent(task=echo, args=(3,), dispatch_options={"eta": LATER}),
        Intent(task=echo, args=(4,), dispatch_options={"queue_name": OTHER}),
        Intent(task=echo, args=(5,), dispatch_options={"broker_priority": 7}),
    ]
    for intent in intents:
        dramatiq_executor(intent)
    # dramatiq's own publish waits for no confirm: let every message reach its queue first,
    # or the priority queue could hand out the early ones before the priority-7 one arrived.
    expected = {QUEUE: 3, f"{QUEUE}.DQ": 1, OTHER: 1}
    wait_until(lambda: queued(channel, expected) == expected, timeout=10, what="stock messages")
    stock = {q: drain(channel, q) for q in (QUEUE, f"{QUEUE}.DQ", OTHER)}

    DramatiqBatchExecutor().publish_all(intents)
    ours = {q: drain(channel, q) for q in (QUEUE, f"{QUEUE}.DQ", OTHER)}

    assert [len(m) for m in stock.values()] == [3, 1, 1]
    for queue in stock:
        assert [normalized(m) for m in ours[queue]] == [normalized(m) for m in stock[queue]]
    # The priority queue hands out the broker_priority=7 message first, then the others in order.
    assert [m["message_id"] for m, _, _ in ours[QUEUE]] == [intents[4].id, intents[0].id, "key-2"]
    assert ours[QUEUE][0][2] == 7 and ours[QUEUE][1][1] == 2  # priority, persistent


def test_a_flush_bigger_than_a_chunk_arrives_whole_and_in_order(broker: Any, channel: Any) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(250)]
    DramatiqBatchExecutor(chunk_size=100).publish_all(intents)
    assert [m["args"] for m, _, _ in drain(channel, QUEUE)] == [[i] for i in range(250)]


def test_messages_no_queue_takes_are_unsent_and_the_queue_comes_back(
    broker: Any, channel: Any
) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    executor = DramatiqBatchExecutor()
    executor.publish_all([Intent(task=echo, args=(0,)), Intent(task=echo, args=(0,))])
    channel.queue_delete(QUEUE)  # dramatiq still believes it declared
    intents = [Intent(task=echo, args=(i,)) for i in range(3)]
    with pytest.raises(BatchDispatchError, match="returned") as info:
        executor.publish_all(intents)
    assert (info.value.sent, info.value.unsent, info.value.in_doubt) == ([], intents, [])
    executor.publish_all(intents)  # declared again, as dramatiq does after a return
    assert [m["message_id"] for m, _, _ in drain(channel, QUEUE)] == [i.id for i in intents]


def test_messages_rabbitmq_nacks_are_unsent_the_others_sent(broker: Any, channel: Any) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    echo = actor(broker)
    executor = DramatiqBatchExecutor()
    executor.publish_all([Intent(task=echo, args=(0,)), Intent(task=echo, args=(0,))])
    channel.queue_delete(QUEUE)  # now a queue that holds two and refuses more
    args = {"x-max-length": 2, "x-overflow": "reject-publish"}
    channel.queue_declare(QUEUE, durable=True, arguments=args)
    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    with pytest.raises(BatchDispatchError, match="nack") as info:
        executor.publish_all(intents)
    assert (info.value.sent, info.value.unsent, info.value.in_doubt) == (
        intents[:2],
        intents[2:],
        [],
    )
    assert [m["message_id"] for m, _, _ in drain(channel, QUEUE)] == [i.id for i in intents[:2]]


def test_rabbitmq_unreachable_means_all_unsent(channel: Any) -> None:
    import socket

    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = make_broker(f"amqp://guest:guest@127.0.0.1:{port}/")
    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(3)]
    with pytest.raises(BatchDispatchError) as info:
        DramatiqBatchExecutor().publish_all(intents)
    assert (info.value.sent, info.value.unsent, info.value.in_doubt) == ([], intents, [])


def test_lost_confirms_mean_in_doubt_and_nothing_is_sent_twice(channel: Any) -> None:
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    proxy = ReplyDropper(SERVICES["rabbitmq"][1])
    broker = make_broker(f"amqp://guest:guest@127.0.0.1:{proxy.port}/")
    try:
        echo = actor(broker)
        executor = DramatiqBatchExecutor(chunk_size=3)
        executor.publish_all([Intent(task=echo, args=(0,))] * 2)  # connected, channel open
        drain(channel, QUEUE)
        intents = [Intent(task=echo, args=(i,)) for i in range(5)]
        proxy.arm()
        with pytest.raises(BatchDispatchError) as info:
            executor.publish_all(intents)
        error = info.value
        assert (error.sent, error.in_doubt, error.unsent) == ([], intents[:3], intents[3:])
        # In doubt, and in fact queued (the publishes got through): each exactly once.
        from tests.processes import wait_until

        def arrived() -> list[Any]:
            got = drain(channel, QUEUE)
            arrived.seen += got  # type: ignore[attr-defined]
            return arrived.seen if len(arrived.seen) >= 3 else []  # type: ignore[attr-defined]

        arrived.seen = []  # type: ignore[attr-defined]
        landed = wait_until(arrived, timeout=10, what="the published chunk")
        assert [m["message_id"] for m, _, _ in landed] == [i.id for i in intents[:3]]

        proxy.armed.clear()  # the network is back: the next flush reconnects and goes through
        executor.publish_all(intents[3:])
        assert [m["message_id"] for m, _, _ in drain(channel, QUEUE)] == [i.id for i in intents[3:]]
    finally:
        proxy.close()
        broker.close()


def test_a_middleware_that_refuses_a_message_stops_the_flush_there(
    broker: Any, channel: Any
) -> None:
    import dramatiq
    from dramatiq.middleware import MiddlewareError

    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    class Refused(MiddlewareError):  # dramatiq lets MiddlewareErrors out of emit_before
        pass

    class Refuse(dramatiq.Middleware):  # a user's middleware that refuses one message
        def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            if list(message.args) == [3]:
                raise Refused("refused by middleware")

    broker.add_middleware(Refuse())
    echo = actor(broker)
    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    with pytest.raises(BatchDispatchError, match="refused by middleware") as info:
        DramatiqBatchExecutor(chunk_size=2).publish_all(intents)
    assert (info.value.sent, info.value.unsent, info.value.in_doubt) == (
        intents[:3],
        intents[3:],
        [],
    )
    assert [m["message_id"] for m, _, _ in drain(channel, QUEUE)] == [i.id for i in intents[:3]]


def test_an_interrupt_in_a_confirm_wait_leaves_the_confirmed_ones_dispatched(
    broker: Any, channel: Any, monkeypatch: Any
) -> None:
    # Interrupted while waiting for the second chunk's confirms (forced: the first confirm
    # that comes for it raises KeyboardInterrupt inside pika's wait, as a Ctrl-C there would):
    # that chunk reached the broker but is not known to have (failed: in doubt), the first was
    # confirmed (dispatched), the third never left.
    from airlock.integrations.executors import _dramatiq_rabbitmq
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    on_confirm = _dramatiq_rabbitmq._Confirms._on_confirm

    def interrupted(self: Any, frame: Any) -> None:
        if self.last_tag > 2:  # the second chunk is out
            raise KeyboardInterrupt
        on_confirm(self, frame)

    monkeypatch.setattr(_dramatiq_rabbitmq._Confirms, "_on_confirm", interrupted)
    fates = fates_of_an_interrupted_flush(DramatiqBatchExecutor(chunk_size=2), actor(broker), 5)
    assert fates == ["dispatched"] * 2 + ["failed"] * 3
    expected = {QUEUE: 4}
    wait_until(lambda: queued(channel, expected) == expected, timeout=10, what="4 messages")
    assert [m["args"] for m, _, _ in drain(channel, QUEUE)] == [[0], [1], [2], [3]]
