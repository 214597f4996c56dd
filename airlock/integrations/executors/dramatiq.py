"""``dramatiq_executor``: send each intent to its actor's broker, like ``send_with_options``.

Dispatch options are dramatiq's message options (``max_retries``, ``time_limit``, ``on_success``,
...) plus ``delay`` (milliseconds or a timedelta), ``eta`` (an absolute datetime) and
``queue_name`` (send to another queue than the actor's). The intent's ``key`` (else its ``id``)
becomes the ``message_id``. A plain function runs synchronously (documented fallback).

``dramatiq_batch_executor`` (opt-in) sends the same messages a whole flush at a time: for an
actor on dramatiq's ``RedisBroker``, each message is prepared exactly as ``RedisBroker.enqueue``
prepares it, then ONE Lua script call per chunk runs the broker's own ``dispatch`` script for
every message (``_dramatiq_redis``); on a ``RabbitmqBroker``, the messages go out on one channel
in confirm mode, confirms awaited once per chunk (``_dramatiq_rabbitmq``). On both, the first
message of a run (actor, options) is built by dramatiq and later ones are stamped from its JSON
text (``_dramatiq_messages``), byte for byte what dramatiq builds. Other brokers, plain
functions and unverified library versions go one by one. Failures raise ``BatchDispatchError``.

With OpenTelemetry instrumented, each message has the option ``trace_context`` (``TRACE_OPTION``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Hashable
from datetime import datetime, timezone
from typing import Any

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import dramatiq
    from dramatiq import Message
    from dramatiq.encoder import JSONEncoder

from airlock._intent import Intent
from airlock.executors._base import check_options
from airlock.integrations import _propagation
from airlock.integrations.executors import _dramatiq_redis
from airlock.integrations.executors._batch import BatchingExecutor
from airlock.integrations.executors._dramatiq_messages import encode_json
from airlock.integrations.executors._queues import (
    check_arguments,
    options_with,
    to_datetime,
    to_timedelta,
)
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsPrepare

__all__ = [
    "DRAMATIQ_OPTIONS",
    "TRACE_OPTION",
    "DramatiqBatchExecutor",
    "DramatiqExecutor",
    "dramatiq_batch_executor",
    "dramatiq_executor",
]

#: The message option that carries the trace context (``{"traceparent": ...}``) once
#: ``airlock.integrations.otel`` is instrumented; a worker middleware can extract it.
TRACE_OPTION = "trace_context"


#: The dispatch options ``dramatiq_executor`` takes: its own (``delay``, ``eta``, ``queue_name``,
#: ``message_id``), RabbitMQ's ``broker_priority``, and the message options of dramatiq's own
#: middleware (``actor_options`` of Retries, TimeLimit, AgeLimit, Callbacks, Pipelines,
#: ShutdownNotifications, Results, GroupCallbacks). An actor's broker may add more: the
#: ``actor_options`` of its middleware are accepted too.
DRAMATIQ_OPTIONS = frozenset(
    {
        "delay", "eta", "queue_name", "message_id", "broker_priority",
        "max_retries", "min_backoff", "max_backoff", "retry_when", "throws",
        "on_retry_exhausted", "time_limit", "max_age", "on_success", "on_failure",
        "pipe_ignore", "pipe_target", "notify_shutdown", "store_results", "result_ttl",
        "group_completion_uuid", "group_completion_callbacks",
    }
)  # fmt: skip


def check_dramatiq_options(intent: Intent) -> None:
    """Raise ``UnknownOptionError`` for a dispatch option neither dramatiq nor the actor's
    broker's middleware takes (``DRAMATIQ_OPTIONS`` + ``broker.actor_options``)."""
    options = intent.dispatch_options
    if not options or options.keys() <= DRAMATIQ_OPTIONS:
        return
    actor = intent.task
    broker = actor.broker if isinstance(actor, dramatiq.Actor) else None
    extra = frozenset(getattr(broker, "actor_options", ()))
    check_options(str(intent), "dramatiq dispatch", options, DRAMATIQ_OPTIONS | extra)


def _eta_ms(eta: datetime) -> int:
    return int(eta.timestamp() * 1000)


class DramatiqExecutor(SupportsPrepare):
    """Sends intents for dramatiq actors; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: arguments dramatiq's encoder (JSON by default) rejects raise
    ``TypeError`` naming the argument; ``delay`` becomes an absolute ``eta``, so a late flush
    does not push the schedule back. At dispatch the remaining delay is what is left until ``eta``.
    An option dramatiq does not take (``known_options``, plus the actor's broker's middleware
    options) raises ``UnknownOptionError``, for a plain function (run inline) too.
    """

    known_options = DRAMATIQ_OPTIONS

    def __call__(self, intent: Intent) -> None:
        actor = intent.task
        if not isinstance(actor, dramatiq.Actor):
            sync_executor(intent)
            return
        message, delay = self.message(intent)
        actor.broker.enqueue(message, delay=delay)

    def message(self, intent: Intent) -> tuple[Message[Any], int | None]:
        """The message for an intent of an actor, and its delay in ms (what ``__call__`` sends)."""
        actor = intent.task
        options = dict(intent.dispatch_options)
        eta = options.pop("eta", None)
        if "delay" in options:  # an intent that skipped prepare()
            eta = _absolute(options.pop("delay"), eta)
        queue_name = options.pop("queue_name", None) or actor.queue_name
        message_id = str(options.pop("message_id", None) or intent.key or intent.id)
        message = actor.message_with_options(args=intent.args, kwargs=intent.kwargs, **options)
        trace: dict[str, str] = {}
        _propagation.inject(intent, trace)  # when tracing is instrumented
        message = Message(
            queue_name=queue_name,
            actor_name=message.actor_name,
            args=message.args,
            kwargs=message.kwargs,
            options={**message.options, TRACE_OPTION: trace} if trace else message.options,
            message_id=message_id,
        )
        delay = None
        if eta is not None:
            delay = max(0, _eta_ms(to_datetime(eta, "eta")) - int(time.time() * 1000))
        return message, delay or None

    def prepare(self, intent: Intent) -> Intent:
        check_dramatiq_options(intent)
        if not isinstance(intent.task, dramatiq.Actor):
            return intent
        check_arguments(intent, _dumps(), "dramatiq's message encoder")
        options = intent.dispatch_options
        if "delay" in options:
            eta = _absolute(options["delay"], options.get("eta"))
            return options_with(intent, delay=None, eta=eta)
        return intent

    def __repr__(self) -> str:
        return "dramatiq_executor"


def _dumps() -> Any:
    """What encodes arguments in a message: the global encoder's ``encode``; for dramatiq's own
    ``JSONEncoder``, the same JSON encoding without its per-call setup (same acceptance)."""
    encoder = dramatiq.get_encoder()
    if type(encoder) is JSONEncoder:
        return encode_json
    return encoder.encode


def _absolute(delay: Any, eta: Any) -> datetime | None:
    if eta is not None and delay is not None:
        raise ValueError("dramatiq dispatch options have both 'delay' and 'eta'; give one of them")
    if delay is None:
        return eta  # type: ignore[no-any-return]
    return datetime.now(timezone.utc) + to_timedelta(delay, 0.001, "delay")


dramatiq_executor = DramatiqExecutor()
"""The dramatiq executor to configure: ``AIRLOCK = {"EXECUTOR": "...dramatiq_executor"}``."""


# The batched variant: one Lua script call per chunk of a flush on a RedisBroker, one channel with
# publisher confirms awaited once per chunk on a RabbitmqBroker.


def _fast_broker(broker: object) -> str | None:
    """``"redis"`` / ``"rabbitmq"`` for a stock broker of a verified dramatiq, else None."""
    # A broker module is loaded once a broker of its kind exists: look it up, never import it.
    for kind, module_name, cls_name in _BROKERS:
        module = sys.modules.get(module_name)
        cls = getattr(module, cls_name, None)
        if cls is not None and isinstance(broker, cls) and type(broker).enqueue is cls.enqueue:
            return kind
    return None


_BROKERS = (
    ("redis", "dramatiq.brokers.redis", "RedisBroker"),
    ("rabbitmq", "dramatiq.brokers.rabbitmq", "RabbitmqBroker"),
)


class DramatiqBatchExecutor(BatchingExecutor, DramatiqExecutor):
    """``dramatiq_executor`` that sends a whole flush to its broker a chunk at a time.

    Same ``prepare`` and the same messages as ``dramatiq_executor``; intents are recorded when
    called and published in ``after_flush``: on a ``RedisBroker`` one Lua script call per chunk,
    on a ``RabbitmqBroker`` one channel whose publisher confirms are awaited once per chunk.
    Another broker, a subclass that overrides ``enqueue``, or a dramatiq / redis-py / pika
    release outside the verified ranges (one ``UntestedVersionWarning``) go one by one through
    ``broker.enqueue``. On failure it raises ``BatchDispatchError``.
    """

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        groups: list[Hashable | None] = []
        for intent in intents:
            actor = intent.task
            broker = actor.broker if isinstance(actor, dramatiq.Actor) else None
            kind = _fast_broker(broker)
            groups.append((kind, broker) if kind and _enabled(kind) else None)
        return groups

    def send_one(self, intent: Intent) -> None:
        DramatiqExecutor.__call__(self, intent)

    #: Stamp later messages of a run from the first one's text (``_dramatiq_messages``); False
    #: builds every message with dramatiq's own code (same bytes, slower). A subclass that
    #: overrides ``message`` never stamps.
    stamp_messages = True

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        kind, broker = group
        stamp = self.stamp_messages and type(self).message is DramatiqExecutor.message
        if kind == "redis":
            _dramatiq_redis.publish(broker, intents, self.message, self.chunk_size, stamp=stamp)
        else:
            from airlock.integrations.executors import _dramatiq_rabbitmq

            _dramatiq_rabbitmq.publish(broker, intents, self.message, self.chunk_size, stamp=stamp)

    def __repr__(self) -> str:
        return "dramatiq_batch_executor"


def _enabled(kind: str) -> bool:
    """The fast path for this broker kind, unless a library is outside its verified range."""
    if kind == "redis":
        return _dramatiq_redis.REDIS_FAST_PATH.enabled()
    from airlock.integrations.executors import _dramatiq_rabbitmq  # imports pika

    return _dramatiq_rabbitmq.RABBITMQ_FAST_PATH.enabled()


dramatiq_batch_executor = DramatiqBatchExecutor()
"""Batched dramatiq executor: ``AIRLOCK = {"EXECUTOR": "...dramatiq.dramatiq_batch_executor"}``."""
