"""Celery task messages built the way ``apply_async`` builds them, for the batched executor.

``CeleryMessages`` walks the steps of ``Task.apply_async`` -> ``Celery.send_task`` ->
``amqp.send_task_message`` -> ``Producer.publish``, calling Celery's and kombu's own functions
for each part (``create_task_message``, the router, ``before_task_publish``, the producer's
serializer and delivery mode, the channel's ``prepare_message``), and hands the prepared message
to its transport subclass (``_celery_redis.RedisMessages``: the Redis channel's LPUSH;
``_celery_amqp.AmqpMessages``: an AMQP ``basic.publish``) instead of sending it.

Repeated messages of one task and one set of options differ only in a few fields (ids,
argument reprs, body, delivery tag): after the first one is built in full, the others are
stamped from a template of it. A builder lives as long as its ``Route`` (one per app and
process, see ``_celery_route``), so templates serve every later flush too; ``begin()`` at the
start of each flush re-reads what may change between flushes.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from celery import signals
    from celery.app.defaults import DEFAULTS
    from celery.utils.collections import lpmerge
    from celery.utils.saferepr import saferepr
    from kombu.common import Broadcast
    from kombu.serialization import dumps as _kombu_dumps
    from kombu.serialization import registry as _registry
    from kombu.utils import json as _kombu_json

from airlock._intent import Intent
from airlock.integrations.executors._batch import NotBatchable
from airlock.integrations.executors._versions import installed_version, release
from airlock.integrations.executors.celery import unproxy

__all__ = ["EMBED", "CeleryMessages", "Full", "plain_repr", "serializer_of", "unproxy"]

kombu_dumps: Callable[..., Any] = _kombu_dumps  # kombu is untyped
# Options whose values make each message different: such intents are always built in full.
_PER_MESSAGE = frozenset({"countdown", "eta", "expires", "task_id", "compression", "headers"})
#: The third part of a protocol 2 body when there are no callbacks, errbacks, chain or chord.
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_JSON = _kombu_json.JSONEncoder()  # what kombu's registered "json" serializer builds per call
# before_task_publish receivers get the merged retry policy from Celery 5.7; before it, the
# ``retry_policy`` option as given (None when not given).
_MERGED_POLICY_SIGNAL = release(installed_version("celery") or "0") >= (5, 7)


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


def _json_encoder() -> Callable[[Any], str]:
    """``_JSON.encode`` for a message body (a tuple), minus building its C encoder per call."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or _JSON.indent is not None:  # pragma: no cover - no C accelerator
        return _JSON.encode
    encode_str = (
        json.encoder.encode_basestring_ascii
        if _JSON.ensure_ascii
        else json.encoder.encode_basestring
    )
    # markers=None: no circular check (the arguments passed kombu's own dumps at enqueue)
    chunks = make(
        None, _JSON.default, encode_str, None, _JSON.key_separator, _JSON.item_separator,
        _JSON.sort_keys, _JSON.skipkeys, _JSON.allow_nan,
    )  # fmt: skip
    join = "".join

    def encode(body: Any) -> str:
        return join(chunks(body, 0))

    return encode


_ENCODE_JSON = _json_encoder()


def serializer_of(name: str) -> Callable[[Any], Any]:
    """kombu's registered encoder for ``name`` (``dumps(body, serializer=name)``'s payload)."""
    encoder = _registry._encoders[name].encoder
    if encoder is _kombu_json.dumps:  # the stock json codec: its encoder, built once
        return _ENCODE_JSON
    return encoder  # type: ignore[no-any-return]


def _fingerprint(task: Any) -> tuple[Any, ...]:
    # What a template took from the task object: a task changed in between is built afresh.
    return (task.name, task.ignore_result, *task._get_exec_options().items())


class Full:
    """A message built in full: the transport's payload plus what a template needs of it."""

    __slots__ = ("message", "name", "note", "payload", "serializer")

    def __init__(self, payload: Any, message: Any, name: str, serializer: str, note: Any) -> None:
        self.payload, self.message, self.name = payload, message, name
        self.serializer, self.note = serializer, note


class CeleryMessages:
    """Builds one app's messages (settings read once); subclasses add the transport's step.

    Subclasses define ``_final`` (the prepared kombu message -> the transport's payload),
    ``_template`` (a ``Full`` message -> a template, or None) and ``_stamp`` (a template and
    one intent -> its payload).
    """

    def __init__(self, app: Any, producer: Any, channel: Any) -> None:
        self.app = app
        self.amqp = app.amqp
        self.producer = producer
        self.channel = channel
        self.declared: set[str] = set()
        # Celery's settings object is slow to read; read each setting once.
        conf = app.conf
        # task_repr_maxlevels came with Celery 5.7; before it, saferepr's default (3) applies.
        self.repr_levels = conf.task_repr_maxlevels if "task_repr_maxlevels" in DEFAULTS else 3
        self.inherit_priority = conf.task_inherit_parent_priority
        self.delivery_mode = conf.task_default_delivery_mode
        self.retry_policy = conf.task_publish_retry_policy
        self.serializer = conf.task_serializer
        self.compression = conf.task_compression
        router = self.amqp.router
        self.routed = bool(router.routes)
        self.route = router.route if router.routes else self._default_route
        self.default_route = router.expand_destination(conf.task_default_queue)
        self.kept: dict[Hashable, tuple[Any, Any, tuple[Any, ...]]] = {}  # across flushes
        self.templates: dict[Hashable, tuple[Any, Any, tuple[Any, ...]]] | None = None
        self.checked: set[Hashable] = set()
        self.parent: Any = None
        self.notify = False
        self.begin()

    def begin(self) -> None:
        """Start a flush: read the worker task we run in and the publish signal receivers."""
        self.parent = parent = self.app.current_worker_task
        self.notify = bool(signals.after_task_publish.receivers)
        self.checked.clear()
        if self.routed or signals.before_task_publish.receivers:
            self.templates = None  # a router or receiver could make each message different
        elif parent is None:
            self.templates = self.kept
        else:  # root and parent ids come from the worker task: good for this flush only
            self.templates = {}

    def build(self, intent: Intent) -> tuple[Any, Any]:
        """The transport payload that publishes this intent, and its ``after_task_publish`` note."""
        task, args, kwargs = unproxy(intent.task), intent.args, intent.kwargs
        if task.typing:
            task.__header__(*args, **kwargs)  # the argument check apply_async makes
        key: Hashable | None = None
        options = intent.dispatch_options
        templates = self.templates
        if templates is not None and not options.keys() & _PER_MESSAGE:
            key = (id(task), *options.items()) if options else id(task)
            try:
                entry = templates.get(key)
            except TypeError:  # an unhashable option value: build in full
                entry = key = None
            if entry is not None:
                owner, template, fingerprint = entry
                if key in self.checked or (
                    owner is task and fingerprint == _fingerprint(task) and self._check(key)
                ):
                    return self._stamp(template, intent.key or intent.id, args, kwargs)
        return self._build(task, intent, key)

    def _check(self, key: Hashable) -> bool:
        self.checked.add(key)
        return True

    def reprs(self, args: Any, kwargs: Any) -> tuple[str, str]:
        """``argsrepr`` and ``kwargsrepr`` as Celery writes them."""
        argsrepr = plain_repr(args)
        if argsrepr is None:
            argsrepr = saferepr(args, self.amqp.argsrepr_maxsize, maxlevels=self.repr_levels)
        kwargsrepr = plain_repr(kwargs)
        if kwargsrepr is None:
            kwargsrepr = saferepr(kwargs, self.amqp.kwargsrepr_maxsize, maxlevels=self.repr_levels)
        return argsrepr, kwargsrepr

    # -- building in full: the steps of apply_async -> send_task -> send_task_message -> publish
    def _build(self, task: Any, intent: Intent, template_key: Hashable | None) -> tuple[Any, Any]:
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
        argsrepr, kwargsrepr = self.reprs(args, kwargs)
        message = self.amqp.create_task_message(
            task_id, name, args, kwargs, countdown, eta, None, None, expires, 0, None,
            None, None, self.app.thread_oid, time_limit, soft_time_limit, False,
            root_id, parent_id, None, None, ignore_result=ignore_result,
            replaced_task_nesting=0, argsrepr=argsrepr, kwargsrepr=kwargsrepr, **options,
        )  # fmt: skip
        options.pop("stamped_headers", None)
        if not ignore_result:
            self.app.backend.on_task_call(self.producer, task_id)
        full = self._envelope(name, message, **options)
        if (
            template_key is not None
            and not (countdown or eta or expires)
            and not (full.note[2].get("compression") or full.note[2].get("task") != name)
        ):
            template = self._template(full, ignore_result)
            if template is not None:
                self.templates[template_key] = (task, template, _fingerprint(task))  # type: ignore[index]
                self.checked.add(template_key)
        return full.payload, full.note

    def _default_route(self, options: dict[str, Any], *_: Any) -> dict[str, Any]:
        # Router.route for an app without task_routes, minus its settings lookup per message.
        options = self.amqp.router.expand_destination(options)
        if "queue" not in options:
            options = lpmerge(dict(self.default_route), options)
        return options

    def _expires_in(self, expires: Any) -> Any:
        if isinstance(expires, datetime) and expires.utcoffset() is not None:
            seconds = (expires - self.app.now()).total_seconds()
        elif isinstance(expires, (str, datetime)):
            # Celery's own parsing and time zone rules for these changed between releases
            # (5.3: datetime.fromisoformat; 5.7: dateutil's isoparse, which reads more forms).
            raise NotBatchable("expires as a string or a naive datetime")
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
    ) -> Full:
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
        if _MERGED_POLICY_SIGNAL:
            retry_policy = dict(self.retry_policy, **(retry_policy or {}))
        signals.before_task_publish.send(
            sender=name, body=body, exchange=exchange, routing_key=routing_key,
            declare=[queue] if queue is not None else [], headers=headers2,
            properties=properties, retry_policy=retry_policy,
        )  # fmt: skip
        serializer = serializer or self.serializer
        payload, prepared = self._publish(
            body,
            routing_key=routing_key,
            exchange=exchange,
            serializer=serializer,
            compression=compression or self.compression,
            delivery_mode=delivery_mode,
            headers=headers2,
            **properties,
        )
        note = (name, body, headers2, exchange, routing_key)
        return Full(payload, prepared, name, serializer, note)

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
    ) -> tuple[Any, Any]:
        # kombu's Producer.publish and _publish up to the channel's prepare_message; the
        # transport's basic_publish is the subclass's ``_final``.
        producer = self.producer
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
        message = self.channel.prepare_message(
            body, priority, content_type, content_encoding, headers, properties
        )
        payload, prepared = self._final(message, routing_key, mandatory, immediate)
        return payload, prepared

    def after_publish(self, notes: list[tuple[Any, ...]]) -> None:
        """Tell ``after_task_publish`` receivers, once the broker confirmed the messages."""
        send_after = signals.after_task_publish.send
        for name, body, headers, exchange, routing_key in notes:
            send_after(
                sender=name, body=body, headers=headers, exchange=exchange, routing_key=routing_key
            )

    # -- the transport's part
    def _final(self, message: Any, routing_key: str, mandatory: Any, immediate: Any) -> Any:
        raise NotImplementedError

    def _template(self, full: Full, ignore_result: Any) -> Any:
        raise NotImplementedError

    def _stamp(self, template: Any, task_id: str, args: Any, kwargs: Any) -> tuple[Any, Any]:
        raise NotImplementedError
