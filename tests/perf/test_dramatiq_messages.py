"""Stamped dramatiq messages are byte for byte what dramatiq builds for the same values.

``_dramatiq_messages`` builds the first message of a run (actor, options) with dramatiq's code
and stamps the later ones from its text. For every stamped message, the expected bytes are made
by dramatiq itself: ``dramatiq_executor.message(intent)`` (``actor.message_with_options``), then
the broker's ``enqueue`` steps (``Message.copy`` with a ``redis_message_id`` / the delay queue and
``eta``) with the stamped message's own per-message values (timestamp, uuid, eta), then
``Message.encode()``. No broker connection is needed: building a message does not connect.
Publishing, through real brokers and stock workers, is covered in test_dramatiq_rabbitmq.py,
test_queue_batches.py and integrations/celery_batch/test_queue_batch_e2e.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest

from airlock import Intent
from tests.services import require_module


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: Any) -> Iterator[Any]:
    require_module("dramatiq", "dramatiq")
    if request.param == "redis":
        require_module("redis", "dramatiq")
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(url="redis://127.0.0.1:1/9", namespace="dfast-messages")
    else:
        require_module("pika", "dramatiq")
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url="amqp://127.0.0.1:1", max_priority=10)
    broker.kind = request.param
    yield broker


def actors(broker: Any) -> tuple[Any, Any]:
    import dramatiq

    @dramatiq.actor(broker=broker, actor_name="dfast_echo", queue_name="dfast_q")
    def echo(*args: Any, **kwargs: Any) -> None:
        pass

    @dramatiq.actor(broker=broker, actor_name="dfast_done", queue_name="dfast_q")
    def done(*args: Any, **kwargs: Any) -> None:
        pass

    return echo, done


def prepared(intents: list[Intent]) -> list[Intent]:
    from airlock.integrations.executors.dramatiq import dramatiq_executor

    return [dramatiq_executor.prepare(intent) for intent in intents]


def expected(broker: Any, intent: Intent, stamped: Any) -> bytes:
    """What dramatiq's own code encodes for ``intent`` with the stamped per-message values."""
    from dramatiq.common import dq_name

    from airlock.integrations.executors.dramatiq import dramatiq_executor

    values = json.loads(stamped.body)
    message, delay = dramatiq_executor.message(intent)
    assert (delay is None) == (stamped.delay is None)
    message = message.copy(message_timestamp=values["message_timestamp"])
    if broker.kind == "redis":
        UUID(values["options"]["redis_message_id"])  # a fresh uuid, as RedisBroker.enqueue makes
        message = message.copy(options={"redis_message_id": values["options"]["redis_message_id"]})
    if delay is not None:
        eta = values["options"]["eta"]
        assert abs(eta - (time.time() * 1000 + delay)) < 60_000
        message = message.copy(queue_name=dq_name(message.queue_name), options={"eta": eta})
    assert abs(values["message_timestamp"] - time.time() * 1000) < 60_000
    assert stamped.queue_name == message.queue_name
    assert stamped.priority == message.options.get("broker_priority")
    return message.encode()  # type: ignore[no-any-return]


def build_all(broker: Any, intents: list[Intent], **kwargs: Any) -> list[Any]:
    from airlock.integrations.executors._dramatiq_messages import Messages
    from airlock.integrations.executors.dramatiq import dramatiq_executor

    messages = Messages(broker, broker.kind, dramatiq_executor.message, **kwargs)
    return [messages.build(intent) for intent in intents]


# dramatiq's middleware options (Retries, TimeLimit, AgeLimit, Callbacks, ShutdownNotifications)
MANY_OPTIONS = {
    "max_retries": 3, "min_backoff": 10, "max_backoff": 1000, "time_limit": 5000,
    "max_age": 60_000, "on_failure": "dfast_done", "notify_shutdown": True,
    "broker_priority": 2, "queue_name": "dfast_third", "delay": 5000,
}  # fmt: skip


def varied(echo: Any, done: Any) -> list[Intent]:
    later = datetime.now(timezone.utc) + timedelta(minutes=10)
    nested = {"a": [1, 2.5, None, True, {"b": ["c", {"d": []}]}], "é": {"ü": "ß"}}
    intents = []
    for i in range(3):  # each kind three times: one built in full, two stamped
        intents += [
            Intent(task=echo, args=(i, "a")),
            Intent(task=echo, args=(f"héllo ☃ {i}", "\u2028\u0000\"'\\", "😀" * i), kwargs={}),
            Intent(task=echo, args=[[i, [i, [i]]], nested], kwargs={"k": nested, "ключ": i}),
            Intent(task=echo, args=(), kwargs={"only": [i, 1e100, -0.0, 2**70]}),
            Intent(task=echo, args=(i,), key=f"key-{i}", dispatch_options={"max_retries": 1}),
            Intent(task=echo, args=(i,), dispatch_options={"message_id": f"m-{i}"}),
            Intent(task=echo, args=(i,), dispatch_options={"eta": later}),
            Intent(task=echo, args=(i,), dispatch_options={"delay": 30_000 + i}),
            Intent(task=echo, args=(i,), dispatch_options={"delay": 0}),  # not delayed at all
            Intent(task=echo, args=(i,), dispatch_options={"queue_name": "dfast_other"}),
            Intent(task=echo, args=(i,), dispatch_options={"broker_priority": 7}),
            Intent(task=echo, args=(i,), dispatch_options=MANY_OPTIONS | {"on_success": done}),
            Intent(task=done, args=(i,), kwargs={"x": "ÿ"}),
        ]
    return prepared(intents)


def test_stamped_messages_are_dramatiqs_bytes(broker: Any) -> None:
    echo, done = actors(broker)
    intents = varied(echo, done)
    built = build_all(broker, intents)
    stamped = [message for message in built if message.stamped]
    # 7 runs (actor, options but eta/message_id, delayed or not): the first of each in full
    assert len(stamped) == len(intents) - 7
    for intent, message in zip(intents, built, strict=True):
        assert message.body == expected(broker, intent, message), intent


def test_not_stamping_builds_the_same_bytes_in_full(broker: Any) -> None:
    echo, done = actors(broker)
    intents = varied(echo, done)
    built = build_all(broker, intents, stamp=False)
    assert not any(message.stamped for message in built)
    for intent, message in zip(intents, built, strict=True):
        assert message.body == expected(broker, intent, message), intent


def test_a_before_enqueue_hook_sees_every_message_built_in_full(broker: Any) -> None:
    from dramatiq.middleware import Middleware

    seen: list[Any] = []

    class Watch(Middleware):
        def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            seen.append(message.message_id)

    broker.add_middleware(Watch())
    echo, _ = actors(broker)
    intents = prepared([Intent(task=echo, args=(i,)) for i in range(5)])
    built = build_all(broker, intents)
    assert not any(message.stamped for message in built)  # it could change them before encoding
    assert seen == [intent.id for intent in intents]


def test_an_after_enqueue_hook_gets_each_stamped_message_as_dramatiq_would(broker: Any) -> None:
    """E.g. ``Prometheus`` (a default middleware before dramatiq 1.16): messages are stamped,
    and each gets a ``Message`` equal to the one dramatiq would have passed."""
    from dramatiq import Message
    from dramatiq.middleware import Middleware

    class Count(Middleware):
        def after_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            pass

    broker.add_middleware(Count())
    echo, done = actors(broker)
    intents = varied(echo, done)
    built = build_all(broker, intents)
    assert sum(message.stamped for message in built) == len(intents) - 7
    for intent, message in zip(intents, built, strict=True):
        assert message.body == expected(broker, intent, message), intent
        assert isinstance(message.message, Message)
        assert message.message == Message.decode(message.body)  # the same fields and values
        assert message.message.encode() == message.body


def test_another_encoder_is_never_stamped(broker: Any) -> None:
    import dramatiq
    from dramatiq.encoder import JSONEncoder

    class Sorted(JSONEncoder):
        def encode(self, data: Any) -> bytes:
            return json.dumps(data, sort_keys=True).encode()

    echo, _ = actors(broker)
    intents = prepared([Intent(task=echo, args=(i,)) for i in range(5)])
    before = dramatiq.get_encoder()
    dramatiq.set_encoder(Sorted())
    try:
        built = build_all(broker, intents)
        assert not any(message.stamped for message in built)
        assert all(message.body == message.message.encode() for message in built)
    finally:
        dramatiq.set_encoder(before)


def test_an_option_that_is_not_hashable_is_built_in_full(broker: Any) -> None:
    echo, _ = actors(broker)
    intents = prepared(
        [Intent(task=echo, args=(i,), dispatch_options={"pipe_target": [1]}) for i in range(3)]
    )
    built = build_all(broker, intents)
    assert not any(message.stamped for message in built)
    for intent, message in zip(intents, built, strict=True):
        assert message.body == expected(broker, intent, message)


def test_rabbitmq_frames_are_what_basic_publish_writes() -> None:
    """The chunk's joined frames equal, message by message, what pika's own
    ``Connection._send_message`` (under ``Channel.basic_publish``) hands to its output; a
    small recorder object stands in for the connection so no socket is involved."""
    require_module("pika", "dramatiq")
    import pika
    from pika.connection import Connection

    from airlock.integrations.executors._dramatiq_messages import Built
    from airlock.integrations.executors._dramatiq_rabbitmq import frames

    class Recorder:
        _body_max_length = 100  # small, so long bodies take several body frames

        def __init__(self) -> None:
            self.written: list[bytes] = []

        def _output_marshaled_frames(self, marshaled: list[bytes]) -> None:
            self.written += marshaled

    prepared = [
        Built(None, None, "dfast_q", b'{"a":1}', None, None),
        Built(None, None, "dfast_q", "é☃".encode() * 90, 7, None),
        Built(None, 10, "dfast_q.DQ", b"x" * 200, None, None),
        Built(None, None, "dfast_q", b"y" * 101, 0, None),
    ]
    recorder = Recorder()
    for message in prepared:
        queue = message.queue_name
        publish = pika.spec.Basic.Publish(exchange="", routing_key=queue, mandatory=True)
        properties = pika.BasicProperties(delivery_mode=2, priority=message.priority)
        Connection._send_message(recorder, 5, publish, (properties, message.body))  # type: ignore[arg-type]
    assert frames(5, Recorder._body_max_length, prepared) == b"".join(recorder.written)


def test_a_first_message_on_the_other_side_of_its_eta_makes_no_template(broker: Any) -> None:
    """The run's key says "not delayed" but dramatiq's build of its first message computed a
    delay (an eta falling on the current millisecond): that message is no template for the
    run. A ``message_of`` that answers a delay once stands in for that millisecond."""
    from airlock.integrations.executors._dramatiq_messages import Messages
    from airlock.integrations.executors.dramatiq import dramatiq_executor

    echo, _ = actors(broker)
    intents = prepared([Intent(task=echo, args=(i,)) for i in range(3)])
    calls: list[Intent] = []

    def message_of(intent: Intent) -> tuple[Any, int | None]:
        message, delay = dramatiq_executor.message(intent)
        calls.append(intent)
        return message, (5 if len(calls) == 1 else delay)

    messages = Messages(broker, broker.kind, message_of)
    built = [messages.build(intent) for intent in intents]
    assert built[0].queue_name == "dfast_q.DQ"
    assert [message.queue_name for message in built[1:]] == ["dfast_q", "dfast_q"]
    assert [message.stamped for message in built] == [False, False, True]
    for intent, message in zip(intents[1:], built[1:], strict=True):
        assert message.body == expected(broker, intent, message)
