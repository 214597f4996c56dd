"""The batched Celery path on RabbitMQ: the messages apply_async sends, confirmed per batch.

Real RabbitMQ (queues named ``broker_perf_*``), a real Celery app; messages are read back with
``basic_get``. The faults are real too: a queue that refuses messages (``x-max-length`` with
``reject-publish``: the broker nacks them) and a connection whose socket is shut down.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from airlock import Intent
from tests.perf.conftest import clock_figure, fates_of_an_interrupted_flush, interrupt
from tests.processes import wait_until
from tests.services import amqp_url, require_module, require_service

require_module("celery", "celery")

from celery import Celery, signals  # noqa: E402
from kombu import Queue  # noqa: E402

from airlock.integrations.executors import BatchDispatchError  # noqa: E402
from airlock.integrations.executors._celery_route import route_for  # noqa: E402
from airlock.integrations.executors.celery import CeleryBatchExecutor, send  # noqa: E402

pytestmark = pytest.mark.requires("rabbitmq")

DEFAULT, OTHER, FULL = "broker_perf_default", "broker_perf_other", "broker_perf_full"
WHEN = datetime(2031, 5, 4, 3, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def app() -> Iterator[Celery]:
    require_service("rabbitmq")
    app = Celery("airlock_perf_amqp", broker=amqp_url(), set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=False,
        task_default_queue=DEFAULT,
        task_queues=[
            Queue(DEFAULT),
            Queue(OTHER),
            # RabbitMQ refuses (nacks) what goes beyond two messages: a real nack
            Queue(FULL, queue_arguments={"x-max-length": 2, "x-overflow": "reject-publish"}),
        ],
    )

    @app.task(name="perf.add", shared=False)
    def add(a: Any, b: Any = 0) -> Any:
        return a + b

    app.finalize()
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()
            channel.queue_purge(queue.name)
    yield app
    with app.connection_for_write() as conn:
        for queue in app.conf.task_queues:
            conn.default_channel.queue_delete(queue.name)
    app.close()


def drain(app: Celery, queue: str) -> list[Any]:
    """Every message in ``queue``, oldest first, removed."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        messages = []
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
    return messages


def queued(app: Celery, queues: dict[str, int]) -> dict[str, int]:
    """How many messages each queue holds now."""
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        return {q: channel.queue_declare(q, passive=True).message_count for q in queues}


def comparable(message: Any) -> tuple[Any, dict[str, Any]]:
    properties = dict(message.properties)
    if "expiration" in properties:  # milliseconds left, computed at publish time
        properties["expiration"] = clock_figure(properties["expiration"], WHEN, until=True)
    return message.body, properties


def variants(app: Celery) -> list[Intent]:
    add = app.tasks["perf.add"]
    return [
        Intent(task=add, args=(1, 2)),
        Intent(task=add, args=(3,), kwargs={"b": 4}, key="order-7"),
        Intent(task=add, args=(5, 6)),  # same task and options as the first: stamped
        Intent(task=add, args=(7, 8)),
        Intent(task=add, args=("é\n'",), kwargs={"b": [1, {"k": None}]}),
        Intent(task=add, args=("x" * 3000,)),
        Intent(task=add, args=("y" * 10_000,)),  # more than one body frame at frame_max 4096
        Intent(task=add, args=(9,), dispatch_options={"queue": OTHER}),
        Intent(task=add, args=(10,), dispatch_options={"queue": OTHER, "priority": 7}),
        Intent(task=add, args=(11,), dispatch_options={"queue": OTHER, "priority": 7}),
        Intent(task=add, args=(12,), dispatch_options={"eta": WHEN}),
        Intent(task=add, args=(13,), dispatch_options={"expires": WHEN}),
        Intent(task=add, args=(14,), dispatch_options={"time_limit": 30, "soft_time_limit": 20}),
        Intent(task=add, args=(15,), dispatch_options={"headers": {"tenant": "t1"}}),
        Intent(task=add, args=(16,), dispatch_options={"task_id": "explicit-id"}),
        Intent(task=add, args=(17,), dispatch_options={"serializer": "pickle"}),
    ]


def test_batched_messages_are_exactly_what_apply_async_sends(app: Celery) -> None:
    intents = variants(app)
    for intent in intents:
        send(intent)  # the stock path: task.apply_async(...)
    # apply_async waits for no confirm by default: let every message reach its queue first.
    others = sum(1 for i in intents if (i.dispatch_options or {}).get("queue") == OTHER)
    expected = {DEFAULT: len(intents) - others, OTHER: others}
    wait_until(lambda: queued(app, expected) == expected, timeout=10, what="stock messages")
    stock = drain(app, DEFAULT) + drain(app, OTHER)

    for _ in range(2):  # the second time every repeated message is stamped from a template
        CeleryBatchExecutor().publish_all(intents)
        ours = drain(app, DEFAULT) + drain(app, OTHER)
        assert len(ours) == len(stock) == len(intents)
        for mine, theirs in zip(ours, stock, strict=True):
            assert comparable(mine) == comparable(theirs)


def test_stamped_properties_are_the_bytes_py_amqp_writes(app: Celery) -> None:
    from amqp import Message

    from airlock.integrations.executors._celery_amqp import _Stamped

    add = app.tasks["perf.add"]
    route = route_for(app)
    assert route is not None and route.messages is not None
    try:
        messages = route.messages
        messages.begin()
        messages.build(Intent(task=add, args=(0,)))  # the template
        intent = Intent(task=add, args=("ünï", 2), key="k" * 200)
        (_, _, _, stamped), _ = messages.build(intent)
    finally:
        route.lock.release()
    assert isinstance(stamped, _Stamped)
    properties = dict(stamped.properties, correlation_id=intent.key)
    properties["application_headers"] = dict(
        properties["application_headers"],
        id=intent.key, root_id=intent.key, argsrepr="('ünï', 2)", kwargsrepr="{}",
    )  # fmt: skip
    assert stamped.serialized == Message(stamped.body, **properties)._serialize_properties()


@pytest.mark.parametrize("frame_max", [131072, 4096])  # RabbitMQ's default; a 10 kB body split
def test_the_chunk_frames_are_the_bytes_py_amqp_writes(app: Celery, frame_max: int) -> None:
    # The chunk is written in one go: its frames must be py-amqp's own, message by message.
    from types import SimpleNamespace

    from amqp import spec
    from amqp.method_framing import frame_writer
    from amqp.serialization import dumps

    from airlock.integrations.executors._celery_amqp import frames

    route = route_for(app)
    assert route is not None and route.messages is not None
    try:
        route.messages.begin()
        payloads = [route.messages.build(intent)[0] for intent in variants(app) * 2]
    finally:
        route.lock.release()
    written: list[bytes] = []
    transport = SimpleNamespace(write=lambda data: written.append(bytes(data)))
    connection = SimpleNamespace(frame_max=frame_max, bytes_sent=0)
    write_frame = frame_writer(connection, transport)
    starts = []
    for routing_key, mandatory, immediate, message in payloads:
        starts.append(sum(map(len, written)))
        args = dumps("Bssbb", (0, "", routing_key, mandatory, immediate))
        write_frame(1, 7, spec.Basic.Publish, args, message)
    assert frames(7, frame_max - 8, payloads) == (b"".join(written), starts)


def test_a_nack_reports_the_refused_intents_unsent(app: Celery) -> None:
    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=(i,), dispatch_options={"queue": FULL}) for i in range(5)]
    with pytest.raises(BatchDispatchError) as caught:
        CeleryBatchExecutor().publish_all(intents)
    error = caught.value
    assert error.sent == intents[:2]
    assert error.unsent == intents[2:]
    assert error.in_doubt == []
    assert "nack" in str(error).lower()
    assert [m.headers["id"] for m in drain(app, FULL)] == [i.id for i in intents[:2]]


def _shut(route: Any) -> None:
    route.connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)


def test_a_connection_lost_between_chunks(app: Celery) -> None:
    # The socket is shut down (a real fault) while the second chunk is being built: the first
    # chunk was confirmed; not one byte of the second could be written, so it is unsent.
    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=(i,)) for i in range(12)]
    route = route_for(app)
    assert route is not None
    route.lock.release()

    def kill(headers: dict[str, Any], **_: Any) -> None:
        if headers["argsrepr"] == "(6,)":
            _shut(route)

    signals.before_task_publish.connect(kill)
    try:
        with pytest.raises(BatchDispatchError) as caught:
            CeleryBatchExecutor(chunk_size=5).publish_all(intents)
    finally:
        signals.before_task_publish.disconnect(kill)
    error = caught.value
    assert error.sent == intents[:5]
    assert error.in_doubt == []
    assert error.unsent == intents[5:]
    assert [m.headers["id"] for m in drain(app, DEFAULT)] == [i.id for i in intents[:5]]
    # The broken route was dropped: the next flush connects again and sends.
    CeleryBatchExecutor().publish_all(intents[:2])
    assert [m.headers["id"] for m in drain(app, DEFAULT)] == [i.id for i in intents[:2]]


def test_a_connection_killed_from_another_thread_mid_batch(app: Celery) -> None:
    # Another thread shuts the socket down while the batch is being built, written or
    # confirmed: where it lands varies (test_a_write_cut_mid_chunk cuts a write at a chosen
    # byte). What must hold: every intent has exactly one fate, everything "sent" is in the
    # queue exactly once, nothing "unsent" is. Twenty chunks keep the flush going long after
    # the first write, however late the killer thread is scheduled.
    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=(i,)) for i in range(20_000)]
    executor = CeleryBatchExecutor(chunk_size=1000)
    executor.publish_all(intents[:2])  # the route exists, its templates too
    drain(app, DEFAULT)
    route = route_for(app)
    assert route is not None
    route.lock.release()
    start = route.confirmed

    def killer() -> None:
        wait_until(lambda: route.confirmed > start, timeout=30, interval=0.001, what="a write")
        _shut(route)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(BatchDispatchError) as caught:
            executor.publish_all(intents)
    finally:
        thread.join(30)
    error = caught.value
    fates = [*error.sent, *error.unsent, *error.in_doubt]
    assert sorted(map(id, fates)) == sorted(map(id, intents))
    assert len(error.sent) < len(intents)
    queued = [m.headers["id"] for m in drain(app, DEFAULT)]
    assert len(queued) == len(set(queued))
    assert {i.id for i in error.sent} <= set(queued)
    assert not {i.id for i in error.unsent} & set(queued)


def test_an_idle_connection_is_opened_again_before_a_batch(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airlock.integrations.executors import _celery_route

    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor()
    executor.publish_all([Intent(task=add, args=(1,))])
    first = route_for(app)
    assert first is not None
    first.lock.release()
    monkeypatch.setattr(_celery_route, "AMQP_IDLE_S", -1.0)  # every route counts as idle
    executor.publish_all([Intent(task=add, args=(2,))])
    monkeypatch.undo()
    second = route_for(app)
    assert second is not None
    second.lock.release()
    assert second is not first and not first.connection.connected
    assert [m.headers["argsrepr"] for m in drain(app, DEFAULT)] == ["(1,)", "(2,)"]


def test_an_unknown_py_amqp_sends_one_by_one(app: Celery, monkeypatch: Any) -> None:
    """py-amqp claiming a version past the verified range (monkeypatched ``__version__``, what
    the gate reads): the RabbitMQ route is off, apply_async sends, one warning."""
    import amqp

    from airlock.exceptions import UntestedVersionWarning
    from airlock.integrations.executors._celery_route import AMQP_CLIENT, discard

    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=(i,)) for i in range(4)]
    monkeypatch.setattr(amqp, "__version__", "99.0.0")
    AMQP_CLIENT.reset()
    try:
        with pytest.warns(UntestedVersionWarning, match="amqp 99.0.0") as caught:
            CeleryBatchExecutor().publish_all(intents)
            CeleryBatchExecutor().publish_all(intents[:1])
        assert len(caught) == 1
        route = route_for(app)
        assert route is not None and route.kind is None  # apply_async for each intent
        discard(app, route)
        route.lock.release()
    finally:
        monkeypatch.undo()
        AMQP_CLIENT.reset()
    ids = [m.headers["id"] for m in drain(app, DEFAULT)]
    assert ids == [i.id for i in intents] + [intents[0].id]


class _CutAfter:
    """A route's real socket that takes ``limit`` more bytes, then is shut down, so the next
    send fails with a real EPIPE. (The wrapper only decides where the write breaks: a kernel
    does not let a test choose that.)"""

    def __init__(self, sock: socket.socket, limit: int) -> None:
        self.sock, self.limit = sock, limit

    def send(self, data: Any) -> int:
        if self.limit <= 0:
            self.sock.shutdown(socket.SHUT_RDWR)
            return self.sock.send(data)
        taken = self.sock.send(data[: self.limit])
        self.limit -= taken
        return taken

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


@pytest.mark.parametrize(("cut_in", "size"), [(7, 10), (5, 300_000)])
def test_a_write_cut_mid_chunk(app: Celery, cut_in: int, size: int) -> None:
    # Messages wholly written before the cut, and the one cut through, may have arrived: in
    # doubt. The ones after it never left: unsent, and not in the queue. With 300 kB bodies
    # the chunk goes out in several writes (about a megabyte each): message 5 is in the second.
    from airlock.integrations.executors._celery_amqp import _groups, frames

    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=("x" * size, i)) for i in range(12)]
    CeleryBatchExecutor().publish_all(intents[:1])  # the route and its template exist
    drain(app, DEFAULT)
    route = route_for(app)
    assert route is not None and route.messages is not None
    try:
        route.messages.begin()
        payloads = [route.messages.build(intent)[0] for intent in intents]
        offsets, at = [], 0
        groups = list(_groups(payloads))
        assert len(groups) == (1 if size == 10 else 3)
        for _, group in groups:
            data, starts = frames(1, route.connection.connection.frame_max - 8, group)
            offsets += [at + start for start in starts]
            at += len(data)
        transport = route.connection.connection.transport
        transport.sock = _CutAfter(transport.sock, offsets[cut_in] + 5)
    finally:
        route.lock.release()
    with pytest.raises(BatchDispatchError) as caught:
        CeleryBatchExecutor(chunk_size=20).publish_all(intents)
    error = caught.value
    assert error.sent == []
    assert error.in_doubt == intents[: cut_in + 1]
    assert error.unsent == intents[cut_in + 1 :]
    # In doubt means what it says: RabbitMQ may drop messages a channel had not routed yet when
    # its connection dies on a cut frame (CI saw none of them arrive). What did arrive must be
    # the complete messages before the cut, in order, and nothing unsent: a message published
    # afterwards on a new connection shows the queue has taken all it will.
    complete = [i.id for i in intents[:cut_in]]  # the cut message never completed
    after = Intent(task=add, args=("after", 0))
    CeleryBatchExecutor().publish_all([after])
    arrived: list[str] = []

    def taken() -> bool:
        arrived.extend(m.headers["id"] for m in drain(app, DEFAULT))
        return after.id in arrived

    wait_until(taken, what="the message published after")
    assert arrived[-1] == after.id
    assert arrived[:-1] == complete[: len(arrived) - 1]


def test_a_chunk_of_big_messages_goes_out_in_several_writes(app: Celery) -> None:
    add = app.tasks["perf.add"]
    intents = [Intent(task=add, args=("z" * 400_000, i)) for i in range(8)]  # about 3 MB
    CeleryBatchExecutor(chunk_size=8).publish_all(intents)  # all confirmed, or it raises
    messages = drain(app, DEFAULT)
    assert [m.headers["id"] for m in messages] == [i.id for i in intents]
    assert all(len(m.body) > 400_000 for m in messages)


@pytest.mark.parametrize("size", [10, 300_000])
def test_a_message_py_amqp_cannot_frame(app: Celery, size: int) -> None:
    # A header value py-amqp's table writer does not handle (a real FrameSyntaxError). Small
    # messages: one write, so nothing of the chunk leaves and all are unsent. 300 kB bodies:
    # the bad message is in the chunk's second write; the first write's messages are still
    # confirmed and reported sent, the rest unsent, nothing in doubt.
    add = app.tasks["perf.add"]
    good = [Intent(task=add, args=("x" * size, i)) for i in range(6)]
    bad = Intent(task=add, args=(0,), dispatch_options={"headers": {"bad": object()}})
    intents = [*good[:5], bad, good[5]]
    with pytest.raises(BatchDispatchError) as caught:
        CeleryBatchExecutor().publish_all(intents)
    error = caught.value
    first_write = 0 if size == 10 else 4  # about a megabyte of bodies per write
    assert error.sent == intents[:first_write]
    assert error.unsent == intents[first_write:]
    assert error.in_doubt == []
    assert "not handled by amqp" in str(error.__cause__)
    assert [m.headers["id"] for m in drain(app, DEFAULT)] == [i.id for i in error.sent]


def test_an_interrupt_between_chunks_leaves_the_confirmed_ones_dispatched(
    app: Celery, monkeypatch: Any
) -> None:
    from airlock.integrations.executors._celery_amqp import ConfirmedChunks

    interrupt(monkeypatch, ConfirmedChunks, "__call__", call=2)
    executor = CeleryBatchExecutor(chunk_size=2)
    fates = fates_of_an_interrupted_flush(executor, app.tasks["perf.add"], 5)
    assert fates == ["dispatched"] * 2 + ["failed"] * 3
    assert [json.loads(m.body)[0] for m in drain(app, DEFAULT)] == [[0], [1]]
