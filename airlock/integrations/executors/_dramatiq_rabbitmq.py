"""dramatiq's ``RabbitmqBroker``: a chunk of a flush on one channel, confirms awaited once.

``RabbitmqBroker.enqueue`` declares the queue (``declare_queue(..., ensure=True)``), prepares a
delayed message (delay queue, ``eta``), runs middleware ``before_enqueue`` and publishes the
encoded message to the default exchange with ``delivery_mode=2`` and the ``broker_priority``
option as priority, one ``basic_publish`` per message (with ``confirm_delivery``, one round trip
each). Here each message of a chunk is prepared the same way (``_dramatiq_messages``: later
messages of a run stamped from the first one's text), the chunk's ``basic.publish`` frames are
written in one go on a channel of the broker's own (per-thread) connection that airlock keeps in
confirm mode, and the chunk's publisher confirms are then awaited together, once. ``mandatory``
is set, so a message no queue takes comes back and is reported unsent rather than lost.

Fates: acked messages are sent (``after_enqueue`` runs for them); nacked or returned ones are
unsent; published ones whose confirm never came (the connection broke) are in doubt; the rest
were never handed to pika and are unsent. Nothing is retried.

The confirms are read through pika's asynchronous channel under the ``BlockingChannel`` (its
``_impl``) and the blocking channel's ``_flush_output``, and the frames written with the
connection's ``_output_marshaled_frames``: private pika API, hence the version gate.
"""

from __future__ import annotations

import contextlib
import struct
import threading
from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import pika
    from pika import frame

from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError
from airlock.executors._unsent import naming_unsent
from airlock.integrations.executors._dramatiq_messages import Built, Messages
from airlock.integrations.executors._versions import FastPath

__all__ = ["RABBITMQ_FAST_PATH", "frames", "publish"]

#: dramatiq and pika releases whose ``RabbitmqBroker.enqueue`` and channel internals this uses.
RABBITMQ_FAST_PATH = FastPath(
    "dramatiq_batch_executor's RabbitMQ fast path",
    {"dramatiq": ("1.15", "2.3"), "pika": ("1.3", "1.5")},
)

_local = threading.local()


class _Confirms:
    """One confirm-mode channel: delivery tags of published messages, and what came back."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.channel = connection.channel()
        self.selected = False
        self.last_tag = 0  # the channel numbers its publishes 1, 2, ... from confirm.select
        self.waiting: dict[int, int] = {}  # delivery tag -> index in the chunk
        self.acked: set[int] = set()  # indexes
        self.refused: dict[int, str] = {}  # index -> why (nack, return)
        self.returned: set[int] = set()  # no queue took them (deleted since it was declared?)
        self.by_body: dict[bytes, list[int]] = {}
        impl = self.channel._impl
        impl.add_on_return_callback(self._on_return)
        impl.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_select)
        self.channel._flush_output(lambda: self.selected)

    def _on_select(self, _frame: Any) -> None:
        self.selected = True

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tags = [method.delivery_tag]
        if method.multiple:
            tags = [tag for tag in self.waiting if tag <= method.delivery_tag]
        nack = isinstance(method, pika.spec.Basic.Nack)
        for tag in tags:
            index = self.waiting.pop(tag, None)
            if index is None:
                continue
            if nack:
                self.refused.setdefault(index, "RabbitMQ refused the message (basic.nack)")
            elif index not in self.refused:
                self.acked.add(index)

    def _on_return(self, _channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        indexes = self.by_body.get(body)
        if indexes:  # RabbitMQ sends basic.return, then basic.ack, for an unroutable message
            self.returned.add(indexes[0])
            self.refused[indexes.pop(0)] = (
                f"RabbitMQ returned the message: {method.reply_code} {method.reply_text} "
                f"(routing key {method.routing_key!r})"
            )

    def publish(self, prepared: list[Built]) -> None:
        """Hand a chunk's messages to pika in ONE write: the frames ``basic_publish`` builds.

        ``Channel.basic_publish`` marshals a method, a header and body frames per message and
        writes each frame to the socket buffer on its own; here the same frames (pika's own
        ``frame`` classes; the method frame and properties made once per queue / priority) are
        joined and written once. Nothing is written if building them fails.
        """
        impl = self.channel._impl
        impl._raise_if_not_open()
        connection = impl.connection
        data = frames(impl.channel_number, connection._body_max_length, prepared)
        connection._output_marshaled_frames([data])
        for index, message in enumerate(prepared):
            self.waiting[self.last_tag + index + 1] = index
            self.by_body.setdefault(message.body, []).append(index)
        self.last_tag += len(prepared)

    def wait(self) -> None:
        """Flush the publishes and wait until every one is confirmed (or the channel closes)."""
        self.channel._flush_output(lambda: not self.waiting)

    def start_chunk(self) -> None:
        self.waiting.clear()
        self.acked.clear()
        self.refused.clear()
        self.returned.clear()
        self.by_body.clear()


def frames(channel_number: int, body_max: int, prepared: list[Built]) -> bytes:
    """The frames pika's ``basic_publish`` writes for each message, joined: ``basic.publish``
    to the default exchange (``mandatory``), a content header with ``RabbitmqBroker.enqueue``'s
    properties, the body in frames of at most ``body_max`` bytes.

    The method frame (per queue) and the encoded properties (per priority) are pika's own,
    marshalled once; the header and body frames around them are packed here as pika's
    ``frame.Header`` / ``frame.Body`` pack them (test_dramatiq_messages compares the bytes).
    """
    methods: dict[str, bytes] = {}
    properties: dict[Any, bytes] = {}
    pack, header_pack, end = struct.pack, _HEADER.pack, _FRAME_END
    parts: list[bytes] = []
    for message in prepared:
        body = message.body
        method = methods.get(message.queue_name)
        if method is None:
            publish = pika.spec.Basic.Publish(
                exchange="", routing_key=message.queue_name, mandatory=True
            )
            method = methods[message.queue_name] = frame.Method(channel_number, publish).marshal()
        props = properties.get(message.priority)
        if props is None:
            encoded = pika.BasicProperties(delivery_mode=2, priority=message.priority).encode()
            props = properties[message.priority] = b"".join(encoded)
        parts += (
            method,
            header_pack(
                pika.spec.FRAME_HEADER, channel_number, _HEADER_SIZE + len(props),
                pika.spec.BasicProperties.INDEX, len(body),
            ),
            props,
            end,
        )  # fmt: skip
        for start in range(0, len(body), body_max):
            piece = body[start : start + body_max]
            parts += (pack(">BHI", pika.spec.FRAME_BODY, channel_number, len(piece)), piece, end)
    return b"".join(parts)


# A content header frame up to its properties: type, channel, payload size; class, weight, size.
_HEADER = struct.Struct(">BHIHxxQ")
_HEADER_SIZE = 12  # class id, weight, body size: the payload before the properties
_FRAME_END = bytes([pika.spec.FRAME_END])


def _confirms(broker: Any) -> _Confirms:
    """This thread's confirm channel on ``broker``'s connection for this thread (made once)."""
    channels: dict[int, _Confirms] = _local.__dict__.setdefault("channels", {})
    connection = broker.connection
    if not connection.is_open:  # it broke (a failed flush): a new one, as dramatiq's enqueue does
        del broker.connection
        connection = broker.connection
    confirms = channels.get(id(broker))
    if confirms is None or confirms.connection is not connection or not confirms.channel.is_open:
        confirms = channels[id(broker)] = _Confirms(connection)
    return confirms


def _forget(broker: Any) -> None:
    confirms = _local.__dict__.get("channels", {}).pop(id(broker), None)
    if confirms is not None and confirms.channel.is_open:
        with contextlib.suppress(Exception):  # the channel is dropped either way
            confirms.channel.close()


def publish(
    broker: Any,
    intents: list[Intent],
    message_of: Callable[[Intent], tuple[Any, int | None]],
    chunk_size: int,
    *,
    stamp: bool = True,
) -> None:
    """Publish ``intents`` (actors of ``broker``), confirms awaited once per chunk.

    ``message_of`` is ``dramatiq_executor.message``; later messages of a run are stamped from
    the first one's text (``_dramatiq_messages``) unless ``stamp`` is false. Middleware
    ``before_enqueue`` runs for every message of a chunk before any is published, so a
    middleware that raises leaves the chunk certainly unsent.
    Raises ``BatchDispatchError`` naming what was sent, unsent and in doubt; nothing is retried.
    """
    build = Messages(broker, "rabbitmq", message_of, stamp=stamp).build
    sent: list[Intent] = []
    with naming_unsent(sent, intents):  # an interrupt: the chunks confirmed before it went
        for start in range(0, len(intents), chunk_size):
            chunk = intents[start : start + chunk_size]
            prepared: list[Built] = []
            for index, intent in enumerate(chunk):
                try:
                    prepared.append(build(intent))
                except Exception as exc:
                    _run(broker, sent, chunk[:index], prepared, intents)  # what came before first
                    raise BatchDispatchError.build(
                        exc, sent=sent, unsent=intents[start + index :]
                    ) from exc
            _run(broker, sent, chunk, prepared, intents)


def _run(
    broker: Any,
    sent: list[Intent],
    chunk: list[Intent],
    prepared: list[Built],
    intents: list[Intent],
) -> None:
    if not chunk:
        return
    rest = intents[len(sent) + len(chunk) :]
    published = 0
    try:
        for canonical in dict.fromkeys(_canonical(m.queue_name) for m in prepared):
            broker.declare_queue(canonical, ensure=True)  # as enqueue does; a no-op once done
        confirms = _confirms(broker)
        confirms.start_chunk()
        confirms.publish(prepared)
        published = len(prepared)
        confirms.wait()
    except Exception as exc:
        _forget(broker)
        if not published:
            raise BatchDispatchError.build(exc, sent=sent, unsent=chunk + rest) from exc
        # Confirms that came in before the failure still count.
        acked = confirms.acked
        raise BatchDispatchError.build(
            exc,
            sent=sent + [chunk[i] for i in sorted(acked)],
            unsent=[chunk[i] for i in range(len(chunk)) if i in confirms.refused]
            + chunk[published:]
            + rest,
            in_doubt=[
                chunk[i] for i in range(published) if i not in acked and i not in confirms.refused
            ],
        ) from exc
    failed: list[tuple[Intent, Exception]] = []
    doubtful: list[Intent] = []
    for index, message in enumerate(prepared):
        if index in confirms.acked:
            sent.append(chunk[index])
            if message.message is not None:  # for middleware after_enqueue hooks
                broker.emit_after("enqueue", message.message, message.delay)
        elif index in confirms.refused:
            failed.append((chunk[index], ConnectionError(confirms.refused[index])))
        else:  # the channel closed before its confirm came
            doubtful.append(chunk[index])
    for index in confirms.returned:  # as dramatiq does: declare that queue again next time
        broker.queues_pending.add(_canonical(prepared[index].queue_name))
    if failed or doubtful:
        _forget(broker)
        cause = failed[0][1] if failed else ConnectionError("the channel closed before confirms")
        raise BatchDispatchError.build(
            cause,
            sent=sent,
            unsent=[i for i, _ in failed] + rest,
            in_doubt=doubtful,
            errors=[*failed, *((i, cause) for i in [*doubtful, *rest])],
        )


def _canonical(queue_name: str) -> str:
    return queue_name[:-3] if queue_name.endswith(".DQ") else queue_name
