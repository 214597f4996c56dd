"""dramatiq messages for the batched executor: a run's first built by dramatiq, the rest stamped.

``RedisBroker.enqueue`` and ``RabbitmqBroker.enqueue`` store ``message.encode()``: with the stock
``JSONEncoder``, ``json.dumps(message.asdict(), separators=(",", ":"))``, the fields in the order
``queue_name, actor_name, args, kwargs, options, message_id, message_timestamp``. Messages of one
actor with one set of dispatch options differ only in their args, kwargs, message id, timestamp
and the options the broker adds per message (``redis_message_id``; ``eta`` when delayed). So the
first message of a run (per actor, options and delayed-or-not) is built in full, the way
``dramatiq_executor`` and the broker's ``enqueue`` build it; its encoded text is cut into a
template, and the template is kept only if stamping that same message's values into it gives
dramatiq's bytes exactly. Later messages are stamped: their per-message values are JSON-encoded
with the encoder settings ``json.dumps`` uses and spliced in.

Stamping is only used when nothing could tell the difference: the global encoder is dramatiq's
own ``JSONEncoder``, no middleware of the broker has a ``before_enqueue`` hook (it could change
the message before it is encoded; stock middleware has none), the actor's
``message_with_options`` is dramatiq's, and no trace context is injected per message. Otherwise
every message is built in full, as before. When a middleware has an ``after_enqueue`` hook
(``Prometheus``, a default middleware before dramatiq 1.16), a stamped message also gets its
``Message`` object, made from the same values, for that hook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable
from typing import Any
from uuid import uuid4

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import dramatiq
    from dramatiq.common import dq_name
    from dramatiq.encoder import JSONEncoder
    from dramatiq.middleware import Middleware

from airlock._intent import Intent
from airlock.integrations import _propagation
from airlock.integrations.executors._queues import to_datetime

__all__ = ["Built", "Messages", "encode_json", "stampable"]

# What json.dumps(data, separators=(",", ":")) builds per call, built once.
_encode = json.JSONEncoder(separators=(",", ":")).encode
_encode_str: Callable[[str], str] = json.encoder.encode_basestring_ascii  # ensure_ascii


def _c_encoder() -> Callable[[Any], str]:
    """``_encode`` for a container, minus the Python layers around the C encoder; checked
    against ``_encode`` once, else ``_encode`` itself."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - no C accelerator
        return _encode
    join = "".join

    def encode(value: Any) -> str:
        # a fresh markers dict per call: circular references raise as json.dumps raises
        return join(make({}, None, _encode_str, None, ":", ",", False, False, True)(value, 0))

    sample = ([1, 2.5, None, True, "\u00e9\u2028"], {"k": [{}, float("inf")]})
    try:
        if encode(sample) == _encode(sample):
            return encode
    except Exception:  # pragma: no cover - another C encoder signature
        pass
    return _encode  # pragma: no cover


_encode_container = _c_encoder()
#: ``json.dumps(value, separators=(",", ":"))`` for a container: what dramatiq's ``JSONEncoder``
#: writes for it (before its UTF-8 encoding, which cannot fail on ASCII-only text).
encode_json = _encode_container
_PER_MESSAGE = frozenset({"eta", "delay", "message_id"})  # options popped per message


class Built:
    """One message ready to go: routing queue, delay, body; ``message`` when built in full."""

    __slots__ = ("body", "delay", "message", "priority", "queue_name", "redis_id", "stamped")

    def __init__(
        self,
        message: Any,
        delay: int | None,
        queue_name: str,
        body: bytes,
        priority: Any,
        redis_id: str | None,
        stamped: bool = False,
    ) -> None:
        # message: for middleware after_enqueue hooks (None when the broker has none)
        self.message, self.delay, self.queue_name, self.body = message, delay, queue_name, body
        self.priority, self.redis_id, self.stamped = priority, redis_id, stamped


def _hooked(broker: Any, hook: str) -> bool:
    """True when a middleware of ``broker`` does something in ``hook`` (not the base no-op)."""
    return any(
        hook in vars(middleware) or getattr(type(middleware), hook) is not getattr(Middleware, hook)
        for middleware in broker.middleware
    )


def stampable(broker: Any) -> bool:
    """True when stamped messages cannot differ from dramatiq's for ``broker``'s actors."""
    if type(dramatiq.get_encoder()) is not JSONEncoder or _propagation.hooks is not None:
        return False
    return not _hooked(broker, "before_enqueue")


class _Template:
    __slots__ = ("actor_name", "head", "options", "priority", "queue_name", "static")

    def __init__(self, head: str, options: str, built: Built, static: dict[str, Any]) -> None:
        self.head, self.options, self.static = head, options, static
        self.queue_name, self.priority = built.queue_name, built.priority
        self.actor_name = built.message.actor_name


class Messages:
    """Builds one flush's messages for ``broker`` (``kind`` ``"redis"`` or ``"rabbitmq"``).

    ``full(intent)`` is what the broker's ``enqueue`` would publish, built by dramatiq;
    ``build(intent)`` stamps it from a template when it can (see the module docstring).
    """

    def __init__(
        self,
        broker: Any,
        kind: str,
        message_of: Callable[[Intent], tuple[Any, int | None]],
        *,
        stamp: bool = True,
    ) -> None:
        self.broker, self.redis, self.message_of = broker, kind == "redis", message_of
        self.stamp = stamp and stampable(broker)
        self.after_hooks = _hooked(broker, "after_enqueue")
        self.templates: dict[Hashable, _Template | None] = {}

    def full(self, intent: Intent) -> Built:
        """``enqueue`` up to its publish, by dramatiq's code: middleware ``before_enqueue`` runs."""
        message, delay = self.message_of(intent)
        redis_id = None
        if self.redis:
            redis_id = str(uuid4())
            message = message.copy(options={"redis_message_id": redis_id})
        queue_name = message.queue_name
        if delay is not None:
            queue_name = dq_name(queue_name)
            eta = int(time.time() * 1000) + delay  # dramatiq.common.current_millis
            message = message.copy(queue_name=queue_name, options={"eta": eta})
        self.broker.emit_before("enqueue", message, delay)
        priority = message.options.get("broker_priority")
        return Built(message, delay, queue_name, message.encode(), priority, redis_id)

    def build(self, intent: Intent) -> Built:
        if not self.stamp:
            return self.full(intent)
        actor = intent.task
        options = intent.dispatch_options
        eta = options.get("eta")
        if "delay" in options or type(actor).message_with_options is not _MESSAGE_WITH_OPTIONS:
            return self.full(intent)
        delay = None
        now = int(time.time() * 1000)
        if eta is not None:
            delay = max(0, int(to_datetime(eta, "eta").timestamp() * 1000) - now) or None
        try:
            key: Hashable = (
                id(actor), actor.actor_name, actor.queue_name, delay is not None,
                *(item for item in options.items() if item[0] not in _PER_MESSAGE),
            )  # fmt: skip
            template = self.templates.get(key, _MISSING)
        except TypeError:  # an unhashable option value
            return self.full(intent)
        if template is _MISSING:
            built = self.full(intent)
            if (built.delay is None) == (delay is None):  # else eta fell on now: next time
                self.templates[key] = _template(built, self.redis)
            return built
        if template is None:
            return self.full(intent)
        message_id = str(options.get("message_id") or intent.key or intent.id)
        redis_id = str(uuid4()) if self.redis else None
        eta_ms = None if delay is None else now + delay
        args, kwargs = intent.args, intent.kwargs
        body = _stamp(template, args, kwargs, message_id, now, redis_id, eta_ms)
        message: Any = None
        if self.after_hooks:  # what the hooks would have been given, from the same values
            extra: dict[str, Any] = {} if redis_id is None else {"redis_message_id": redis_id}
            if eta_ms is not None:
                extra["eta"] = eta_ms
            message = dramatiq.Message(
                queue_name=template.queue_name, actor_name=template.actor_name, args=args,
                kwargs=kwargs or {}, options={**template.static, **extra},
                message_id=message_id, message_timestamp=now,
            )  # fmt: skip
        queue_name, priority = template.queue_name, template.priority
        return Built(message, delay, queue_name, body, priority, redis_id, stamped=True)


_MESSAGE_WITH_OPTIONS = dramatiq.Actor.message_with_options
_MISSING: Any = object()


def _stamp(
    template: _Template,
    args: Any,
    kwargs: Any,
    message_id: str,
    timestamp: int,
    redis_id: str | None,
    eta: int | None,
) -> bytes:
    extra = []
    if redis_id is not None:
        extra.append('"redis_message_id":' + _encode_str(redis_id))
    if eta is not None:
        extra.append('"eta":' + str(eta))
    options = template.options
    if extra:
        options = options + ("," if len(options) > 1 else "") + ",".join(extra)
    text = "".join(
        (
            template.head, _encode_container(args), ',"kwargs":',
            _encode_container(kwargs) if kwargs else "{}", ',"options":', options,
            '},"message_id":', _encode_str(message_id),
            ',"message_timestamp":', str(timestamp), "}",
        )
    )  # fmt: skip
    return text.encode("utf-8")


def _template(built: Built, redis: bool) -> _Template | None:
    """A template cut from a message built in full, or None if stamping would not reproduce it."""
    message = built.message
    fields = list(message.asdict())
    if fields != [
        "queue_name", "actor_name", "args", "kwargs", "options", "message_id", "message_timestamp",
    ]:  # fmt: skip
        return None
    options = dict(message.options)
    tail = [name for name in ("redis_message_id", "eta") if name in options]
    if list(options)[len(options) - len(tail) :] != tail:
        return None  # the per-message options are not last: cannot splice them
    for name in tail:
        del options[name]
    head = '{"queue_name":' + _encode(message.queue_name)
    head += ',"actor_name":' + _encode(message.actor_name) + ',"args":'
    template = _Template(head, _encode(options)[:-1], built, options)
    eta = message.options.get("eta") if built.delay is not None else None
    stamped = _stamp(
        template, message.args, message.kwargs, message.message_id, message.message_timestamp,
        built.redis_id if redis else None, eta,
    )  # fmt: skip
    return template if stamped == built.body else None
