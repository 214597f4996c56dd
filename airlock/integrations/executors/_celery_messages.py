"""Celery messages for kombu's Redis transport, built the way ``apply_async`` builds them.

``RedisMessages`` walks the steps of ``Task.apply_async`` -> ``Celery.send_task`` ->
``amqp.send_task_message`` -> ``Producer.publish`` -> the virtual channel's ``basic_publish``
-> the Redis channel's ``_put``, calling Celery's and kombu's own functions for each part
(``create_task_message``, the router, ``before_task_publish``, the producer's serializer and
delivery mode, the channel's envelope, body encoding, delivery tag and priority queue name),
and returns the final LPUSH instead of executing it. Repeated messages of one task and one set
of options are stamped from the first one. The batched executor is in celery.py.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from celery import signals
    from celery.local import Proxy
    from celery.utils.collections import lpmerge
    from celery.utils.saferepr import saferepr
    from celery.utils.time import isoparse
    from kombu.common import Broadcast
    from kombu.serialization import dumps as _kombu_dumps
    from kombu.utils.json import JSONEncoder

from airlock._intent import Intent
from airlock.integrations.executors._batch import Commands, NotBatchable

__all__ = ["RedisMessages", "plain_repr", "unproxy"]

kombu_dumps: Callable[..., Any] = _kombu_dumps  # kombu is untyped
# Options whose values make each message different: such intents are always built in full.
_PER_MESSAGE = frozenset({"countdown", "eta", "expires", "task_id", "compression", "headers"})
_Template = tuple[str, str, Commands, dict[str, Any], str, Any, str]
# kombu's Redis transport writes ``dumps(message)``: the same encoder, built once.
_ENVELOPE = JSONEncoder()


def unproxy(task: Any) -> Any:
    """The task object itself (``@app.task`` before the app is finalized gives a lazy proxy)."""
    return task._get_current_object() if isinstance(task, Proxy) else task


_PLAIN = frozenset({int, float, bool, type(None)})


def plain_repr(value: Any) -> str | None:
    """``repr(value)`` when it is certainly what Celery's ``saferepr`` gives, else None.

    True for short tuples/dicts of numbers, None, booleans and plain ASCII strings: the common
    case, where saferepr's careful (and slow) walk changes nothing.
    """
    if type(value) is tuple:
        items: Any = value
    elif type(value) is dict:
        items = [*value, *value.values()]
    else:
        return None
    for item in items:
        kind = type(item)
        if kind is str:
            if not (item.isascii() and item.isprintable()) or "'" in item or "\\" in item:
                return None
        elif kind not in _PLAIN:
            return None
    text = repr(value)
    return text if len(text) < 512 else None


class RedisMessages:
    """Builds the Redis commands of one app's messages for one batch (settings read once)."""

    def __init__(self, app: Any, producer: Any, channel: Any) -> None:
        self.app = app
        self.amqp = app.amqp
        self.conf = app.conf
        self.producer = producer
        self.channel = channel
        self.declared: set[str] = set()
        # Celery's settings object is slow to read; read each setting once per batch.
        conf = app.conf
        self.repr_levels = conf.task_repr_maxlevels
        self.inherit_priority = conf.task_inherit_parent_priority
        self.delivery_mode = conf.task_default_delivery_mode
        self.retry_policy = conf.task_publish_retry_policy
        self.serializer = conf.task_serializer
        self.compression = conf.task_compression
        router = self.amqp.router
        self.route = router.route if router.routes else self._default_route
        self.default_route = router.expand_destination(conf.task_default_queue)
        self.parent = app.current_worker_task  # the worker task we run in, if any
        # Messages of one task with the same options differ only in a few fields: after the
        # first one is built in full, the others are stamped from it. Not when a router or a
        # before_task_publish receiver could make each message different.
        self.templates: dict[Hashable, _Template] | None = (
            None if router.routes or signals.before_task_publish.receivers else {}
        )

    def build(self, intent: Intent) -> tuple[Commands, tuple[Any, ...]]:
        """Redis commands that queue this intent, and what to tell ``after_task_publish``."""
        task, args, kwargs = unproxy(intent.task), intent.args, intent.kwargs
        if task.typing:
            task.__header__(*args, **kwargs)  # the argument check apply_async makes
        key: Hashable | None = None
        if self.templates is not None and not intent.dispatch_options.keys() & _PER_MESSAGE:
            key = (id(task), *intent.dispatch_options.items())
            try:
                template = self.templates.get(key)
            except TypeError:  # an unhashable option value (e.g. headers): build in full
                template = key = None
            if template is not None:
                return self._stamp(template, intent, args, kwargs)
        return self._build(task, intent, key)

    def _stamp(
        self, template: _Template, intent: Intent, args: Any, kwargs: Any
    ) -> tuple[Commands, tuple[Any, ...]]:
        # The fields of a message that differ between two calls of one task with one set of
        # options: ids, argument reprs, body, delivery tag (see the test comparing with stock).
        name, redis_key, extras, message, serializer, ignore_result, routing_key = template
        task_id = intent.key or intent.id
        body = (args, kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
        content_type, content_encoding, data = kombu_dumps(body, serializer=serializer)
        channel = self.channel
        headers = dict(message["headers"])
        headers["id"] = task_id
        if self.parent is None:
            headers["root_id"] = task_id
        headers["argsrepr"] = plain_repr(args) or saferepr(
            args, self.amqp.argsrepr_maxsize, maxlevels=self.repr_levels
        )
        headers["kwargsrepr"] = plain_repr(kwargs) or saferepr(
            kwargs, self.amqp.kwargsrepr_maxsize, maxlevels=self.repr_levels
        )
        properties = dict(message["properties"])
        properties["correlation_id"] = task_id
        properties["delivery_tag"] = channel._next_delivery_tag()
        stamped = {
            "body": channel.encode_body(data, channel.body_encoding)[0],
            "content-encoding": content_encoding,
            "content-type": content_type,
            "headers": headers,
            "properties": properties,
        }
        if not ignore_result:
            self.app.backend.on_task_call(self.producer, task_id)
        commands = [("lpush", (redis_key, _ENVELOPE.encode(stamped))), *extras]
        return commands, (name, body, headers, "", routing_key)

    # -- building in full: the steps of apply_async -> send_task -> send_task_message -> publish
    def _build(
        self, task: Any, intent: Intent, template_key: Hashable | None
    ) -> tuple[Commands, tuple[Any, ...]]:
        args, kwargs = intent.args, intent.kwargs
        options = dict(task._get_exec_options(), **intent.dispatch_options)
        options.setdefault("ignore_result", task.ignore_result)
        task_id = options.pop("task_id", None) or intent.key or intent.id
        countdown = options.pop("countdown", None)
        eta = options.pop("eta", None)
        time_limit = options.pop("time_limit", None)
        soft_time_limit = options.pop("soft_time_limit", None)
        expires = options.pop("expires", None)
        ignore_result = options.pop("ignore_result", None)
        name = task.name
        options = self.route(options, name, args, kwargs, task)
        if expires is not None:
            options["expiration"] = self._expires_in(expires)
        root_id = parent_id = None
        parent = self.parent
        if parent:
            root_id = parent.request.root_id or parent.request.id
            parent_id = parent.request.id
            if self.inherit_priority:
                options.setdefault("priority", parent.request.delivery_info.get("priority"))
        argsrepr = plain_repr(args)
        if argsrepr is None:
            argsrepr = saferepr(args, self.amqp.argsrepr_maxsize, maxlevels=self.repr_levels)
        kwargsrepr = plain_repr(kwargs)
        if kwargsrepr is None:
            kwargsrepr = saferepr(kwargs, self.amqp.kwargsrepr_maxsize, maxlevels=self.repr_levels)
        message = self.amqp.create_task_message(
            task_id, name, args, kwargs, countdown, eta, None, None, expires, 0, None,
            None, None, self.app.thread_oid, time_limit, soft_time_limit, False,
            root_id, parent_id, None, None, ignore_result=ignore_result,
            replaced_task_nesting=0, argsrepr=argsrepr, kwargsrepr=kwargsrepr, **options,
        )  # fmt: skip
        options.pop("stamped_headers", None)
        if not ignore_result:
            self.app.backend.on_task_call(self.producer, task_id)
        redis_key, stamped, extras, published = self._envelope(name, message, **options)
        if (
            template_key is not None
            and not (countdown or eta or expires)
            and not (
                stamped["headers"].get("compression") or stamped["headers"].get("task") != name
            )
        ):
            serializer = options.get("serializer") or self.serializer
            self.templates[template_key] = (  # type: ignore[index]
                name, redis_key, extras, stamped, serializer, ignore_result, published[4]
            )  # fmt: skip
        return [("lpush", (redis_key, _ENVELOPE.encode(stamped))), *extras], published

    def _default_route(self, options: dict[str, Any], *_: Any) -> dict[str, Any]:
        # Router.route for an app without task_routes, minus its settings lookup per message.
        options = self.amqp.router.expand_destination(options)
        if "queue" not in options:
            options = lpmerge(dict(self.default_route), options)
        return options

    def _expires_in(self, expires: Any) -> Any:
        if isinstance(expires, datetime):
            seconds = (expires - self.app.now()).total_seconds()
        elif isinstance(expires, str):
            seconds = (isoparse(expires) - self.app.now()).total_seconds()
        else:
            seconds = expires
        return max(seconds, 0) if isinstance(seconds, numbers.Real) else seconds

    def _envelope(
        self,
        name: str,
        message: Any,
        exchange: Any = None,
        routing_key: Any = None,
        queue: Any = None,
        event_dispatcher: Any = None,
        retry: Any = None,
        retry_policy: Any = None,
        serializer: Any = None,
        delivery_mode: Any = None,
        compression: Any = None,
        declare: Any = None,
        headers: Any = None,
        exchange_type: Any = None,
        timeout: Any = None,
        confirm_timeout: Any = None,
        **kwargs: Any,
    ) -> tuple[str, dict[str, Any], Commands, tuple[Any, ...]]:
        # Celery's amqp.send_task_message, up to the point where it calls producer.publish.
        headers2, properties, body, _sent_event = message
        if headers:
            headers2.update(headers)
        if kwargs:
            properties.update(kwargs)
        qname = queue
        if queue is None and exchange is None:
            queue = self.amqp.default_queue
        if queue is not None:
            if isinstance(queue, str):
                qname, queue = queue, self.amqp.queues[queue]
            else:
                qname = queue.name
        if delivery_mode is None:
            delivery_mode = getattr(getattr(queue, "exchange", None), "delivery_mode", None)
            delivery_mode = delivery_mode or self.delivery_mode
        if exchange_type is None:
            exchange_type = getattr(getattr(queue, "exchange", None), "type", "direct")
        if (exchange and routing_key) or exchange_type != "direct":
            raise NotBatchable("routing through a named exchange")
        exchange, routing_key = "", qname
        if isinstance(queue, Broadcast):
            raise NotBatchable("broadcast queue")
        if queue is not None and qname not in self.declared:
            self.producer.maybe_declare(queue)
            self.declared.add(qname)
        retry_policy = dict(self.retry_policy, **(retry_policy or {}))
        signals.before_task_publish.send(
            sender=name, body=body, exchange=exchange, routing_key=routing_key,
            declare=[queue] if queue is not None else [], headers=headers2,
            properties=properties, retry_policy=retry_policy,
        )  # fmt: skip
        redis_key, stamped, extras = self._publish(
            body,
            routing_key=routing_key,
            exchange=exchange,
            serializer=serializer or self.serializer,
            compression=compression or self.compression,
            delivery_mode=delivery_mode,
            headers=headers2,
            **properties,
        )
        return redis_key, stamped, extras, (name, body, headers2, exchange, routing_key)

    def _publish(
        self,
        body: Any,
        routing_key: str,
        delivery_mode: Any = None,
        mandatory: Any = False,
        immediate: Any = False,
        priority: Any = 0,
        content_type: Any = None,
        content_encoding: Any = None,
        serializer: Any = None,
        headers: Any = None,
        compression: Any = None,
        exchange: Any = None,
        expiration: Any = None,
        **properties: Any,
    ) -> tuple[str, dict[str, Any], Commands]:
        # kombu's Producer.publish + _publish, then the virtual channel's basic_publish and the
        # Redis channel's _put, with the final LPUSH collected instead of executed.
        producer, channel = self.producer, self.channel
        headers = {} if headers is None else headers
        compression = producer.compression if compression is None else compression
        exchange_name, properties["delivery_mode"] = producer._delivery_details(
            exchange or producer.exchange, delivery_mode
        )
        if exchange_name:
            raise NotBatchable("named exchange")
        if expiration is not None:
            properties["expiration"] = str(int(expiration * 1000))
        body, content_type, content_encoding = producer._prepare(
            body, serializer, content_type, content_encoding, compression, headers
        )
        message = channel.prepare_message(
            body, priority, content_type, content_encoding, headers, properties
        )
        channel._inplace_augment_message(message, exchange_name, routing_key)
        key = channel._q_for_pri(routing_key, channel._get_message_priority(message))
        extras: Commands = []
        expires = channel._expires.get(routing_key) if channel._expires else None
        if expires is not None:
            for step in channel.priority_steps:
                extras.append(("pexpire", (channel._q_for_pri(routing_key, step), expires)))
        return key, message, extras

    def after_publish(self, notes: list[tuple[Any, ...]]) -> None:
        """Tell ``after_task_publish`` receivers, once the broker confirmed the messages."""
        send_after = signals.after_task_publish.send
        for name, body, headers, exchange, routing_key in notes:
            send_after(
                sender=name, body=body, headers=headers, exchange=exchange, routing_key=routing_key
            )
