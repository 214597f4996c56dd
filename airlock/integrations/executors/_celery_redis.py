"""Celery messages for kombu's Redis transport: the LPUSH ``apply_async`` would run.

``RedisMessages`` adds the last steps of the path to ``CeleryMessages`` (``_celery_messages``):
the virtual channel's ``basic_publish`` and the Redis channel's ``_put`` (envelope, body
encoding, delivery tag, priority queue name, queue expiry), returning the commands instead of
running them.

Stamping: a template is the JSON text of the first message of a task with the fields that
differ between messages (body, ``id``, ``root_id``, ``argsrepr``, ``kwargsrepr``,
``correlation_id``, ``delivery_tag``) cut out; a later message is the template with its own
values, each escaped by the very function the JSON encoder uses for strings. So the bytes are
what ``json.dumps`` of the message would give, without building or walking the message.
"""

from __future__ import annotations

import json
import os
from base64 import b64encode
from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from kombu.transport.virtual import Channel as _VirtualChannel
    from kombu.utils.json import JSONEncoder

from airlock._intent import Intent
from airlock.integrations.executors._batch import (
    BatchDispatchError,
    Built,
    Commands,
    execute_pipeline,
    pooled_connection,
    refused,
)
from airlock.integrations.executors._celery_messages import (
    EMBED,
    CeleryMessages,
    Full,
    serializer_of,
)

__all__ = ["RedisChunks", "RedisMessages"]

# kombu's Redis transport writes ``dumps(message)``: the same encoder, built once.
_ENVELOPE = JSONEncoder()
_ESCAPE: Callable[[str], str] = (
    json.encoder.encode_basestring_ascii
    if _ENVELOPE.ensure_ascii
    else json.encoder.encode_basestring
)
# Fields cut out of a template, in the order of str.format's arguments in ``_stamp``.
_BODY, _ID, _ROOT, _ARGS, _KWARGS, _CORRELATION, _TAG = range(7)


def _uuid4() -> str:
    """``str(uuid.uuid4())`` (kombu's delivery tag), in a third of the time."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _pack(name: str, args: list[Any], encode: Callable[[Any], bytes]) -> bytes:
    """One command in RESP, as one buffer (redis-py's packer cuts big commands in pieces).

    ``encode`` is the connection's own encoder: each argument becomes the bytes redis-py sends.
    """
    parts = [b"*%d\r\n$%d\r\n%s\r\n" % (len(args) + 1, len(name), name.encode())]
    for arg in args:
        data = encode(arg)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _slot(index: int) -> str:
    return f"\x00airlock-slot-{index}\x00"


class _Template:
    __slots__ = (
        "encode", "extras", "format", "headers", "ignore_result", "key", "name", "root",
        "routing_key",
    )  # fmt: skip

    def __init__(self, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self, name, value)


class RedisMessages(CeleryMessages):
    """Builds the Redis commands of one app's messages (see ``CeleryMessages``)."""

    def __init__(self, app: Any, producer: Any, channel: Any) -> None:
        super().__init__(app, producer, channel)
        self.base64 = channel.body_encoding == "base64"
        stock_tags = type(channel)._next_delivery_tag is _VirtualChannel._next_delivery_tag
        self.next_tag = _uuid4 if stock_tags else channel._next_delivery_tag

    def _final(
        self, message: Any, routing_key: str, mandatory: Any, immediate: Any
    ) -> tuple[Commands, Any]:
        # The virtual channel's basic_publish and the Redis channel's _put, not executed.
        channel = self.channel
        channel._inplace_augment_message(message, "", routing_key)
        key = channel._q_for_pri(routing_key, channel._get_message_priority(message))
        extras: Commands = []
        # Queue expiry (x-expires) on Redis came with kombu 5.7; before it, no PEXPIRE.
        queue_expiry = getattr(channel, "_expires", None)
        expires = queue_expiry.get(routing_key) if queue_expiry else None
        if expires is not None:
            for step in channel.priority_steps:
                extras.append(("pexpire", (channel._q_for_pri(routing_key, step), expires)))
        return [("lpush", (key, _ENVELOPE.encode(message))), *extras], (key, message, extras)

    def _template(self, full: Full, ignore_result: Any) -> _Template | None:
        key, message, extras = full.message
        root = self.parent is None  # else root_id is the worker task's, the same for all
        headers = dict(message["headers"])
        headers["id"] = _slot(_ID)
        headers["argsrepr"] = _slot(_ARGS)
        headers["kwargsrepr"] = _slot(_KWARGS)
        if root:
            headers["root_id"] = _slot(_ROOT)
        properties = dict(message["properties"])
        properties["correlation_id"] = _slot(_CORRELATION)
        properties["delivery_tag"] = _slot(_TAG)
        probe = dict(message, body=_slot(_BODY), headers=headers, properties=properties)
        text = _ENVELOPE.encode(probe).replace("{", "{{").replace("}", "}}")
        for index in (_BODY, _ID, _ARGS, _KWARGS, _CORRELATION, _TAG, *((_ROOT,) if root else ())):
            quoted = _ESCAPE(_slot(index))
            if text.count(quoted) != 1:  # pragma: no cover - a field the encoder moved
                return None
            text = text.replace(quoted, f"{{{index}}}")
        return _Template(
            encode=serializer_of(full.serializer), extras=extras, format=text.format,
            headers=message["headers"], ignore_result=ignore_result, key=key, name=full.name,
            root=root, routing_key=full.note[4],
        )  # fmt: skip

    def _stamp(self, template: Any, task_id: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        data = template.encode((args, kwargs, EMBED))
        if self.base64:
            body = b64encode(data.encode() if type(data) is str else data).decode()
        else:
            body = self.channel.encode_body(data, self.channel.body_encoding)[0]
        argsrepr, kwargsrepr = self.reprs(args, kwargs)
        escape = _ESCAPE
        quoted_id = escape(task_id)
        text = template.format(
            escape(body), quoted_id, quoted_id, escape(argsrepr), escape(kwargsrepr), quoted_id,
            escape(self.next_tag()),
        )  # fmt: skip
        if not template.ignore_result:
            self.app.backend.on_task_call(self.producer, task_id)
        note = None
        if self.notify:
            headers = dict(template.headers, id=task_id, argsrepr=argsrepr, kwargsrepr=kwargsrepr)
            if template.root:
                headers["root_id"] = task_id
            body_value = (args, kwargs, dict(EMBED))
            note = (template.name, body_value, headers, "", template.routing_key)
        return [("lpush", (template.key, text)), *template.extras], note


class RedisChunks:
    """``run_chunk`` for ``publish_in_transactions``: a chunk in as few Redis commands as it can.

    Consecutive messages to one list go in one ``LPUSH key m1 m2 ...`` (Redis pushes the values
    in order, as one LPUSH each would, atomically); a chunk of one such command is sent alone,
    others in one MULTI/EXEC. Failures as ``run_transaction``: connecting fails, or the server
    refuses the transaction: all unsent; the reply is lost: all in doubt; a command refused
    (e.g. WRONGTYPE): its intents unsent, the others sent.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def __call__(self, built: Built) -> None:
        commands: list[tuple[str, list[Any]]] = []
        owners: list[list[Intent] | None] = []
        merge = False  # whether the last command is an LPUSH that takes more values
        for intent, intent_commands, _ in built:
            (name, args), *extras = intent_commands
            last = commands[-1] if merge else None
            if last is not None and name == "lpush" and last[1][0] == args[0]:
                last[1].append(args[1])
                owners[-1].append(intent)  # type: ignore[union-attr]
            else:
                commands.append((name, list(args)))
                owners.append([intent])
            merge = name == "lpush" and not extras
            for extra in extras:
                commands.append((extra[0], list(extra[1])))
                owners.append(None)  # bookkeeping, not a message
        chunk = [intent for intent, _, _ in built]
        if len(commands) == 1:
            self.run_one(*commands[0], chunk)
            return
        pipe = self.client.pipeline(transaction=True)
        for name, args in commands:
            getattr(pipe, name)(*args)
        results = execute_pipeline(pipe, chunk)
        failed = [
            (intent, result)
            for group, result in zip(owners, results, strict=True)
            if group is not None and isinstance(result, Exception)
            for intent in group
        ]
        if failed:
            raise refused(chunk, failed)

    def run_one(self, name: str, args: list[Any], chunk: list[Intent]) -> None:
        """One command, on a connection of the client's pool: no pipeline to build."""
        import redis.exceptions as redis_errors

        pool = self.client.connection_pool
        try:
            connection = pooled_connection(pool)
        except Exception as exc:  # nothing of this chunk left the process
            raise BatchDispatchError.build(exc, sent=[], unsent=chunk) from exc
        try:
            connection.send_packed_command([_pack(name.upper(), args, connection.encoder.encode)])
            connection.read_response()
        except redis_errors.ResponseError as exc:  # refused (e.g. WRONGTYPE): nothing applied
            raise BatchDispatchError.build(exc, sent=[], unsent=chunk) from exc
        except Exception as exc:  # the reply was lost: applied or not, we cannot tell
            connection.disconnect()
            raise BatchDispatchError.build(exc, sent=[], in_doubt=chunk) from exc
        except BaseException:  # an interrupt: the connection is in an unknown state
            connection.disconnect()
            raise
        finally:
            pool.release(connection)
