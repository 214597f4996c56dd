"""How ``celery_batch_executor`` publishes a group of intents once its version gate is open.

``celery.py`` imports this module only when ``CELERY_FAST_PATH.enabled()``: it (and the message
builders under it) uses Celery's and kombu's internals, which are verified for the versions of
that gate only, so the stock ``celery_executor`` never depends on it importing.

``publish(executor, app, intents)``: this process's cached route for the app (``_celery_route``)
and one Redis transaction, or one wait for RabbitMQ publisher confirms, per chunk; when another
thread's flush holds the route, a producer from Celery's pool; another broker, or a Redis client
configured to retry, or a broker client outside its verified versions: one ``apply_async`` per
intent.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from airlock._intent import Intent
from airlock.integrations.executors._batch import Built, publish_in_transactions
from airlock.integrations.executors._celery_amqp import ConfirmedChunks
from airlock.integrations.executors._celery_redis import RedisChunks, RedisMessages
from airlock.integrations.executors._celery_route import (
    REDIS_CLIENT,
    discard,
    is_redis,
    redis_batch_safe,
    route_for,
    task_app,
)

__all__ = ["GC_PAUSE_AT", "publish", "task_app"]

#: From this many intents in one run, the cyclic garbage collector is paused while they are
#: built and published: the messages of a big batch live until their chunk is confirmed, and
#: the collector would walk the whole heap again and again meanwhile (reference counting still
#: frees everything; the collector is switched back on at the end).
GC_PAUSE_AT = 1000


def publish(executor: Any, app: Any, intents: list[Intent]) -> None:
    """Publish ``intents`` (tasks of ``app``) for ``executor`` (a ``CeleryBatchExecutor``)."""
    send = executor.send_one
    route = route_for(app)
    if route is None:  # another thread's flush is using this process's route
        _publish_pooled(executor, app, intents)
        return
    paused = len(intents) >= GC_PAUSE_AT and gc.isenabled()
    if paused:
        gc.disable()
    try:
        if route.kind is None or route.messages is None:
            executor.publish_one_by_one(intents)  # another broker: the per-message path
            return
        messages = route.messages
        messages.begin()
        on_sent = messages.after_publish if messages.notify else None
        run_chunk: Callable[[Built], object]
        if route.kind == "amqp":
            run_chunk = ConfirmedChunks(route, executor.confirm_timeout)
        else:
            run_chunk = RedisChunks(route.client)
        publish_in_transactions(
            route.client,
            intents,
            messages.build,
            send,
            chunk_size=executor.chunk_size,
            on_sent=on_sent,
            run_chunk=run_chunk,
        )
    except BaseException:
        discard(app, route)  # the connection may be broken: the next flush opens another
        raise
    finally:
        route.lock.release()
        if paused:
            gc.enable()


def _publish_pooled(executor: Any, app: Any, intents: list[Intent]) -> None:
    """Publish with a producer from Celery's pool (when this process's route is busy)."""
    with app.producer_or_acquire() as producer:
        channel = producer.channel
        if not (is_redis(channel) and redis_batch_safe(channel) and REDIS_CLIENT.enabled()):
            # Another broker, or a Redis client configured to retry (a retried pipeline
            # could queue messages twice): the per-message path, one by one.
            executor.publish_one_by_one(intents)
            return
        batch = RedisMessages(app, producer, channel)
        with channel.conn_or_acquire() as client:
            publish_in_transactions(
                client,
                intents,
                batch.build,
                executor.send_one,
                chunk_size=executor.chunk_size,
                on_sent=batch.after_publish if batch.notify else None,
                run_chunk=RedisChunks(client),
            )
