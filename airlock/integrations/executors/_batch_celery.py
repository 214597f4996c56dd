"""Batched Celery publishing on Redis: one connection and one MULTI/EXEC per chunk of a flush.

``CeleryBatchExecutor`` records intents during a flush and publishes them in ``after_flush``.
For a Celery task on a Redis broker it builds each message with Celery's own
``app.amqp.create_task_message`` (protocol 2 headers) and kombu's own producer and channel
steps (serialization, envelope, ``delivery_info``, priority queue naming), so a stock worker
reads exactly what ``apply_async`` would have sent, then pushes the messages through one Redis
transaction per chunk instead of one round trip (and one pass through Celery's publish
machinery) per message. Everything else goes through ``celery_executor``'s per-message path:
signatures and canvas, plain functions, tasks whose class overrides ``apply_async``, options
the fast path does not know, non-Redis brokers, and apps with eager mode or sent events.

Unlike ``apply_async``, a batch is never retried on a connection error (that could queue a
message twice); a failure raises ``BatchDispatchError`` saying what was sent.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    from celery import signals
    from celery.app.task import Task
    from kombu.transport.redis import Channel as RedisChannel

from airlock._intent import Intent
from airlock.integrations.executors._batch import (
    BatchDispatchError,
    BatchingExecutor,
    publish_in_transactions,
)
from airlock.integrations.executors._celery_messages import RedisMessages, unproxy
from airlock.integrations.executors.celery import CeleryExecutor, send

__all__ = ["CHUNK_SIZE", "SUPPORTED_OPTIONS", "CeleryBatchExecutor", "celery_batch_executor"]

#: Dispatch options the fast path encodes itself; any other option sends that intent alone.
SUPPORTED_OPTIONS = frozenset(
    {
        "queue",
        "countdown",
        "eta",
        "expires",
        "priority",
        "time_limit",
        "soft_time_limit",
        "ignore_result",
        "serializer",
        "compression",
        "headers",
        "delivery_mode",
        "task_id",
    }
)
#: Messages per Redis transaction: big enough to amortize round trips, small enough not to
#: hold the Redis event loop for long.
CHUNK_SIZE = 1000

_STOCK_APPLY_ASYNC = Task.apply_async
_STOCK_SHADOW_NAME = Task.shadow_name
_UNSEEN = object()


def _task_app(task: Any) -> Any:
    """The task's app when the fast path can send its intents, else None (per-message path)."""
    if not isinstance(task, Task):
        return None
    cls = type(task)
    if not _stock_apply_async(cls.apply_async) or cls.shadow_name is not _STOCK_SHADOW_NAME:
        return None
    if task.__v2_compat__ or getattr(task, "_dump_pydantic_arguments", None) is not None:
        return None
    if task.soft_time_limit and task.time_limit and task.soft_time_limit > task.time_limit:
        return None  # apply_async raises ValueError: let it
    app = task._get_app()
    conf = app.conf
    if conf.task_always_eager or conf.task_send_sent_event or conf.task_protocol != 2:
        return None
    return app


def _stock_apply_async(method: Any) -> bool:
    # airlock's own migration intercept (AirlockTask, install()) only defers calls made inside
    # a scope; what airlock itself sends goes straight through it to Celery's method.
    return method is _STOCK_APPLY_ASYNC or (
        getattr(method, "__module__", None) == "airlock.integrations.celery"
    )


class CeleryBatchExecutor(BatchingExecutor, CeleryExecutor):
    """``celery_executor`` that sends a whole flush to a Redis broker in a few round trips.

    Same ``prepare`` (argument check, absolute times) and the same messages as
    ``celery_executor``; intents are recorded when called and published in ``after_flush``.
    On failure it raises ``BatchDispatchError`` (``sent`` / ``unsent`` / ``in_doubt``).
    ``chunk_size`` messages go in each Redis transaction.
    """

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        self.chunk_size = chunk_size

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        apps: dict[int, Any] = {}  # per flush: settings may change between flushes
        groups: list[Hashable | None] = []
        supported = SUPPORTED_OPTIONS
        for intent in intents:
            task = unproxy(intent[0])
            app = apps.get(id(task), _UNSEEN)
            if app is _UNSEEN:
                app = apps[id(task)] = _task_app(task)
            groups.append(app if app is not None and intent[5].keys() <= supported else None)
        return groups

    def send_one(self, intent: Intent) -> None:
        send(intent)

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        app = group
        with app.producer_or_acquire() as producer:
            channel = producer.channel
            if not isinstance(channel, RedisChannel) or not channel.supports_batch_publish:
                # Another broker, or a Redis client configured to retry (a retried pipeline
                # could queue messages twice): the per-message path, one by one.
                self.publish_one_by_one(intents)
                return
            batch = RedisMessages(app, producer, channel)
            with channel.conn_or_acquire() as client:
                publish_in_transactions(
                    client,
                    intents,
                    batch.build,
                    send,
                    chunk_size=self.chunk_size,
                    on_sent=batch.after_publish if signals.after_task_publish.receivers else None,
                )

    def publish_one_by_one(self, intents: list[Intent]) -> None:
        for index, intent in enumerate(intents):
            try:
                send(intent)
            except Exception as exc:
                raise BatchDispatchError.build(
                    exc, sent=intents[:index], unsent=intents[index:]
                ) from exc

    def __repr__(self) -> str:
        return "celery_batch_executor"


celery_batch_executor = CeleryBatchExecutor()
"""Batched Celery executor: ``AIRLOCK = {"EXECUTOR": "...celery.celery_batch_executor"}``."""
