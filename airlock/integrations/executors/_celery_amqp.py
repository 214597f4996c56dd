"""Celery messages on RabbitMQ (kombu's py-amqp transport), published with confirms per batch.

``AmqpMessages`` ends the steps of ``CeleryMessages`` (``_celery_messages``) where kombu's
``Producer._publish`` calls the channel's ``basic_publish``: it returns the ``amqp.Message`` the
channel prepared, with the exchange and routing key, instead of sending it. A stamped message
is the template's properties with its own ids and argument reprs, and its own body.

``ConfirmedChunks`` publishes a chunk of them on one channel in confirm mode
(``confirm.select`` once per connection): the chunk's ``basic.publish`` frames, the frames
py-amqp's ``frame_writer`` would write for each message (``frames``; a test compares the bytes),
go to the socket in as few writes as there are megabytes of bodies, then one wait for the
broker's ``basic.ack`` / ``basic.nack`` of all of them, where ``apply_async`` with
``confirm_publish`` waits once per message. Acked: sent; nacked: unsent (the broker dropped
it); written and then the connection was lost or the wait timed out before an answer: in
doubt; never written (a failed write took none of its bytes, or a message before it could not
be framed): unsent. On TLS a failed write may have sent part of what it was given unseen, so
those messages (at most 64 kB of them) count as written.
"""

from __future__ import annotations

import bisect
import contextlib
import struct
import time
from collections.abc import Iterator
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from amqp import Message
    from amqp.exceptions import MessageNacked, RecoverableConnectionError
    from amqp.serialization import dumps as _amqp_dumps
    from amqp.transport import SSLTransport

from airlock._intent import Intent
from airlock.integrations.executors._batch import BatchDispatchError, Built
from airlock.integrations.executors._celery_messages import (
    EMBED,
    CeleryMessages,
    Full,
    serializer_of,
)

__all__ = ["AmqpMessages", "ConfirmedChunks", "frames"]


class _Template:
    __slots__ = ("encode", "framed", "ignore_result", "name", "properties", "publish", "root")

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)


class _Stamped(Message):  # type: ignore[misc]
    """An ``amqp.Message`` whose property bytes were stamped from a template's."""

    __slots__ = ("serialized",)

    def _serialize_properties(self) -> bytes:
        return self.serialized  # type: ignore[no-any-return]


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")  # how py-amqp encodes strings


def _slot(index: int) -> str:
    return f"\x00airlock-slot-{index}\x00"


_ID, _ROOT, _ARGS, _KWARGS = range(4)


class _Framed:
    """py-amqp's serialized properties of a template message, cut where messages differ.

    The header table's ``id``, ``root_id``, ``argsrepr`` and ``kwargsrepr`` (long strings, each
    after its 4-byte length), the table's own length before it, and the ``correlation_id``
    (a short string after its 1-byte length) are put back per message; the rest is the bytes
    py-amqp wrote for the template.
    """

    def __init__(self, properties: dict[str, Any], root: bool) -> None:
        headers = dict(properties["application_headers"])
        slots = [_ID, _ARGS, _KWARGS, *((_ROOT,) if root else ())]
        for index, name in ((_ID, "id"), (_ARGS, "argsrepr"), (_KWARGS, "kwargsrepr")):
            headers[name] = _slot(index)
        if root:
            headers["root_id"] = _slot(_ROOT)
        correlation = _slot(9)
        probe = Message("", **dict(properties, application_headers=headers))
        probe.properties["correlation_id"] = correlation
        whole = probe._serialize_properties()
        table = _amqp_dumps("F", [headers])[4:]  # the table's entries, without its length
        at = whole.index(table)
        self.head, tail = whole[: at - 4], whole[at + len(table) :]
        marker = bytes([len(_utf8(correlation))]) + _utf8(correlation)
        if tail.count(marker) != 1:  # pragma: no cover - a property py-amqp moved
            raise ValueError("correlation_id not found in the template's properties")
        self.before_correlation, self.after_correlation = tail.split(marker)
        self.parts: list[bytes] = []
        self.order: list[int] = []
        rest = table
        while True:
            found = [(rest.find(self._item(_slot(i))), i) for i in slots]
            found = [(pos, i) for pos, i in found if pos >= 0]
            if not found:
                break
            pos, index = min(found)
            self.parts.append(rest[:pos])
            self.order.append(index)
            rest = rest[pos + len(self._item(_slot(index))) :]
        self.parts.append(rest)
        if sorted(self.order) != sorted(slots):  # pragma: no cover
            raise ValueError("a header slot is missing from the template's table")

    @staticmethod
    def _item(value: str) -> bytes:
        data = _utf8(value)
        return b"S" + len(data).to_bytes(4, "big") + data

    def stamp(self, values: list[str], correlation_id: str) -> bytes:
        item = self._item
        parts = self.parts
        pieces = [parts[0]]
        for n, index in enumerate(self.order):
            pieces.append(item(values[index]))
            pieces.append(parts[n + 1])
        table = b"".join(pieces)
        correlation = _utf8(correlation_id)
        return b"".join(
            (
                self.head, len(table).to_bytes(4, "big"), table, self.before_correlation,
                bytes([len(correlation)]), correlation, self.after_correlation,
            )
        )  # fmt: skip


class AmqpMessages(CeleryMessages):
    """Builds one app's ``amqp.Message`` objects (see ``CeleryMessages``)."""

    def _final(
        self, message: Any, routing_key: str, mandatory: Any, immediate: Any
    ) -> tuple[Any, Any]:
        return (routing_key, mandatory, immediate, message), message

    def _template(self, full: Full, ignore_result: Any) -> _Template:
        routing_key, mandatory, immediate, message = full.payload
        properties = dict(message.properties)
        root = self.parent is None
        framed = None
        if type(properties.get("correlation_id")) is str and all(
            type(properties["application_headers"].get(name)) is str
            for name in ("id", "argsrepr", "kwargsrepr", *(("root_id",) if root else ()))
        ):
            framed = _Framed(properties, root)
        return _Template(
            encode=serializer_of(full.serializer), framed=framed, ignore_result=ignore_result,
            name=full.name, properties=properties, publish=(routing_key, mandatory, immediate),
            root=root,
        )  # fmt: skip

    def _stamp(self, template: Any, task_id: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        argsrepr, kwargsrepr = self.reprs(args, kwargs)
        framed = template.framed
        if framed is not None and len(_utf8(task_id)) < 256 and not self.notify:
            # The properties as bytes, stamped: py-amqp's table writer is most of a publish.
            message = _Stamped(template.encode((args, kwargs, EMBED)), **template.properties)
            message.serialized = framed.stamp([task_id, task_id, argsrepr, kwargsrepr], task_id)
            if not template.ignore_result:
                self.app.backend.on_task_call(self.producer, task_id)
            return (*template.publish, message), None
        properties = dict(template.properties)
        headers = properties["application_headers"] = dict(
            properties["application_headers"], id=task_id, argsrepr=argsrepr, kwargsrepr=kwargsrepr
        )
        if template.root:
            headers["root_id"] = task_id
        properties["correlation_id"] = task_id
        message = Message(template.encode((args, kwargs, EMBED)), **properties)
        if not template.ignore_result:
            self.app.backend.on_task_call(self.producer, task_id)
        routing_key, mandatory, immediate = template.publish
        note = None
        if self.notify:
            note = (template.name, (args, kwargs, dict(EMBED)), headers, "", routing_key)
        return (routing_key, mandatory, immediate, message), note


class _Confirms:
    """The broker's answers for delivery tags ``base + 1`` to ``base + count``."""

    def __init__(self, base: int, count: int) -> None:
        self.base = base
        self.acked: list[bool | None] = [None] * count
        self.low = 0  # every index below it is answered

    def answer(self, tag: int, multiple: bool, ok: bool) -> None:
        index = tag - self.base - 1
        acked = self.acked
        if index < 0 or index >= len(acked):
            return
        if multiple:
            for i in range(self.low, index + 1):
                if acked[i] is None:
                    acked[i] = ok
        else:
            acked[index] = ok
        while self.low < len(acked) and acked[self.low] is not None:
            self.low += 1

    def ack(self, tag: int, multiple: bool = False) -> None:
        self.answer(tag, multiple, True)

    def nack(self, tag: int, multiple: bool = False, *_: Any) -> None:
        self.answer(tag, multiple, False)


class ConfirmedChunks:
    """``run_chunk`` for ``publish_in_transactions`` on a py-amqp channel in confirm mode."""

    def __init__(self, route: Any, confirm_timeout: float) -> None:
        self.route = route
        self.confirm_timeout = confirm_timeout

    def __call__(self, built: Built) -> None:
        route = self.route
        channel = route.channel
        chunk = [intent for intent, _, _ in built]
        confirms = _Confirms(route.confirmed, len(chunk))
        events = channel.events
        events["basic_ack"].add(confirms.ack)
        events["basic_nack"].add(confirms.nack)
        written = 0  # how many messages may have reached the broker
        unframed: Exception | None = None  # a message py-amqp could not frame
        try:
            connection = channel.connection
            if not connection:
                raise RecoverableConnectionError("basic_publish: connection closed")
            if connection.client_properties.get("capabilities", {}).get("connection.blocked"):
                # As basic_publish does: read a pending connection.blocked first.
                with contextlib.suppress(TimeoutError):
                    connection.drain_events(timeout=0)
            transport = connection.transport
            # A plain send() that raises took nothing; SSL_write may have sent records first.
            exact = not isinstance(transport, SSLTransport)
            sock, body_max = transport.sock, connection.frame_max - 8
            route.confirmed += len(chunk)  # the tags this chunk takes (a failure drops the route)
            for first, group in _groups([payload for _, payload, _ in built]):
                try:
                    data, starts = frames(channel.channel_id, body_max, group)
                except Exception as exc:  # not sendable: what went before is still confirmed
                    unframed = exc
                    break
                view, done, end = memoryview(data), 0, 0
                try:
                    while done < len(data):
                        end = len(data) if exact else min(len(data), done + _TLS_SLICE)
                        done += sock.send(view[done:end])
                except BaseException:
                    if not exact:
                        done = max(done, end)  # the failed call's bytes may have left
                    raise
                finally:
                    # Messages whose first byte left may have reached the broker.
                    written = first + bisect.bisect_left(starts, done)
                    if done:
                        connection.bytes_sent += 1  # py-amqp's heartbeat reads it
            deadline = time.monotonic() + self.confirm_timeout
            drain = connection.drain_events
            while confirms.low < written:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"RabbitMQ confirmed {confirms.low} of {written} messages within "
                        f"{self.confirm_timeout} s"
                    )
                drain(timeout=left)
            if unframed is not None:  # reported once what went before it is confirmed
                raise unframed
        except Exception as exc:
            # Answered: sent or unsent. Written (the write may have failed halfway) without an
            # answer: in doubt. Not written: unsent.
            raise _outcome(exc, chunk, confirms, written) from exc
        finally:
            events["basic_ack"].discard(confirms.ack)
            events["basic_nack"].discard(confirms.nack)
        if False in confirms.acked:
            refused = MessageNacked("RabbitMQ refused (nacked) some messages")
            raise _outcome(refused, chunk, confirms, len(chunk))


#: Bytes of bodies framed and written at a time (the rest of a chunk waits its turn).
_GROUP_BYTES = 1 << 20
#: Bytes per send() on a TLS connection: what may have left unseen when one fails.
_TLS_SLICE = 1 << 16


def _groups(payloads: list[Any]) -> Iterator[tuple[int, list[Any]]]:
    """The payloads in runs of about ``_GROUP_BYTES`` of bodies, each with its first index."""
    first, size = 0, 0
    for index, payload in enumerate(payloads):
        size += len(payload[3].body) + 512  # the body, and about what goes around it
        if size >= _GROUP_BYTES:
            yield first, payloads[first : index + 1]
            first, size = index + 1, 0
    if first < len(payloads):
        yield first, payloads[first:]


#: ``basic.publish`` (class 60, method 40), the frame end octet.
_PUBLISH, _FRAME_END = struct.pack(">HH", 60, 40), b"\xce"
_FRAME = struct.Struct(">BHI")  # frame type, channel, payload size
_CONTENT = struct.Struct(">HHQ")  # class, weight, body size


def frames(channel_id: int, body_max: int, payloads: list[Any]) -> tuple[bytes, list[int]]:
    """The frames py-amqp's ``frame_writer`` writes for each ``(routing_key, mandatory,
    immediate, message)`` published to the default exchange, joined, and where each message
    starts in them: the method frame (made once per routing key and flags), the content header
    with the message's properties, the body in frames of at most ``body_max`` bytes (none for an
    empty body)."""
    methods: dict[tuple[Any, ...], bytes] = {}
    frame, content = _FRAME.pack, _CONTENT.pack
    parts: list[bytes] = []
    starts: list[int] = []
    size = 0
    for routing_key, mandatory, immediate, message in payloads:
        body = message.body
        if isinstance(body, str):  # as frame_writer encodes a text body
            body = body.encode(message.properties.setdefault("content_encoding", "utf-8"))
        header = content(60, 0, len(body)) + message._serialize_properties()
        method = methods.get((routing_key, mandatory, immediate))
        if method is None:
            args = _PUBLISH + _amqp_dumps("Bssbb", (0, "", routing_key, mandatory, immediate))
            method = frame(1, channel_id, len(args)) + args + _FRAME_END
            methods[routing_key, mandatory, immediate] = method
        parts += (method, frame(2, channel_id, len(header)), header, _FRAME_END)
        starts.append(size)
        size += len(method) + len(header) + 8
        for start in range(0, len(body), body_max):
            piece = body[start : start + body_max]
            parts += (frame(3, channel_id, len(piece)), piece, _FRAME_END)
            size += len(piece) + 8
    return b"".join(parts), starts


def _outcome(
    exc: BaseException, chunk: list[Intent], confirms: _Confirms, tried: int
) -> BatchDispatchError:
    sent: list[Intent] = []
    unsent: list[Intent] = []
    in_doubt: list[Intent] = []
    for index, intent in enumerate(chunk):
        answer = confirms.acked[index]
        if answer is True:
            sent.append(intent)
        elif answer is False or index >= tried:
            unsent.append(intent)
        else:
            in_doubt.append(intent)
    return BatchDispatchError.build(exc, sent=sent, unsent=unsent, in_doubt=in_doubt)
