"""The Celery fast path's per-process state: one broker connection per app, kept between flushes.

Acquiring a producer from Celery's pool, creating a Redis client for the channel, reading the
app's settings and building the first message of a task in full cost more than publishing a
few messages (docs/performance.md, "Where the time of a small flush goes"). A ``Route`` keeps
them for one app in one process: a kombu connection and producer of its own (not the pool's),
the channel's Redis client or an AMQP channel in confirm mode, and the message builder with its
templates. It is built again after a fork (the pid changed: the parent's sockets are left
alone), when the app's settings changed, and after a failed publish (the connection may be
broken). One flush uses it at a time; a flush that finds it busy (another thread) takes
Celery's pooled producer as before.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from typing import Any

from airlock.integrations._extras import require
from airlock.integrations.executors._celery_messages import CeleryMessages
from airlock.integrations.executors._versions import FastPath

with require("celery", __name__):
    from celery.app.task import Task

__all__ = [
    "AMQP_CLIENT",
    "REDIS_CLIENT",
    "STOCK_APPLY_ASYNC",
    "Route",
    "is_amqp",
    "is_redis",
    "redis_batch_safe",
    "route_for",
    "settings_changed",
    "task_app",
]

#: The redis-py releases the Redis route was verified against (``make test-matrix``): outside
#: them a Redis broker gets one ``apply_async`` per intent, and one ``UntestedVersionWarning``.
REDIS_CLIENT = FastPath("celery_batch_executor's Redis fast path", {"redis": ("5.0", "8.2")})
#: The same for py-amqp (kombu's RabbitMQ client), whose confirm mode the RabbitMQ route drives.
AMQP_CLIENT = FastPath("celery_batch_executor's RabbitMQ fast path", {"amqp": ("5.1.1", "5.5")})

#: An AMQP route idle this long is opened again before use: a connection a firewall or the
#: broker dropped in silence would take a batch down with it (Redis's pool checks its own).
AMQP_IDLE_S = 60.0


def is_redis(channel: Any) -> bool:
    """A kombu Redis channel (its module is loaded already if the app uses it)."""
    redis_transport = sys.modules.get("kombu.transport.redis")
    return redis_transport is not None and isinstance(channel, redis_transport.Channel)


def redis_batch_safe(channel: Any) -> bool:
    """Whether the channel's Redis client runs a command once: a retried one could queue twice.

    kombu 5.7 says so itself (``supports_batch_publish``); before it, read the client options
    kombu 5.7 reads.
    """
    supported = getattr(channel, "supports_batch_publish", None)
    if supported is not None:
        return bool(supported)
    options = channel.pool.connection_kwargs
    return not (
        options.get("retry_on_timeout")
        or options.get("retry_on_error")
        or options.get("retry") is not None
    )


def is_amqp(channel: Any) -> bool:
    """A kombu py-amqp channel (RabbitMQ through ``amqp://`` / ``pyamqp://``)."""
    amqp_transport = sys.modules.get("kombu.transport.pyamqp")
    return amqp_transport is not None and isinstance(channel, amqp_transport.Channel)


def settings_changed(app: Any, seen: tuple[Any, dict[str, Any]] | None) -> bool:
    """Whether ``app.conf`` changed since ``seen`` (its object and a copy of its changes)."""
    if seen is None:
        return True
    conf = app.conf
    return seen[0] is not conf or seen[1] != conf.changes


def _snapshot(app: Any) -> tuple[Any, dict[str, Any]]:
    conf = app.conf
    return conf, dict(conf.changes)


class Route:
    """One app's connection, producer, channel and message builder, in one process."""

    kind: str | None  # "redis", "amqp" or None (another broker: the per-message path)
    messages: CeleryMessages | None

    def __init__(self, app: Any) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.seen = _snapshot(app)
        self.connection = app.connection_for_write()
        self.client: Any = None
        self.confirmed = 0  # AMQP: messages published on the confirm channel so far
        self.used = time.monotonic()
        try:
            self.producer = app.amqp.Producer(self.connection)
            channel = self.channel = self.producer.channel
            if is_redis(channel) and redis_batch_safe(channel) and REDIS_CLIENT.enabled():
                # A Redis client configured to retry is refused: a retried pipeline could
                # queue messages twice. So is an unverified redis-py.
                from airlock.integrations.executors._celery_redis import RedisMessages

                self.kind = "redis"
                self.client = channel._create_client()
                self.messages = RedisMessages(app, self.producer, channel)
            elif is_amqp(channel) and AMQP_CLIENT.enabled():
                from airlock.integrations.executors._celery_amqp import AmqpMessages

                self.kind = "amqp"
                channel.confirm_select()
                channel._confirm_selected = True  # py-amqp's own confirm path must not redo it
                self.messages = AmqpMessages(app, self.producer, channel)
            else:
                self.kind, self.messages = None, None
        except BaseException:
            self.close(graceful=False)
            raise

    def close(self, graceful: bool = True) -> None:
        """Drop the connection (only in the process that opened it).

        Not ``graceful``: the connection may be broken or its peer gone, so no goodbye is
        exchanged with the broker (that could wait for an answer that never comes).
        """
        if self.pid != os.getpid():
            return
        try:
            if self.client is not None:
                self.client.close()
            if graceful:
                self.connection.close()
            else:
                self.connection.collect()
        except Exception:  # pragma: no cover - closing a broken connection
            pass


_ROUTES: weakref.WeakKeyDictionary[Any, Route] = weakref.WeakKeyDictionary()
_ROUTES_LOCK = threading.Lock()


def _forget_after_fork() -> None:
    # A fork while another thread held the lock would leave the child's copy locked forever;
    # the parent's routes are of no use in the child (their sockets are the parent's).
    global _ROUTES_LOCK
    _ROUTES_LOCK = threading.Lock()
    _ROUTES.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_forget_after_fork)


def route_for(app: Any) -> Route | None:
    """This process's route for ``app``, locked for the caller; None when another flush holds it.

    The caller releases ``route.lock`` when done, and calls ``discard(app, route)`` if its
    publish failed.
    """
    with _ROUTES_LOCK:
        route = _ROUTES.get(app)
        idle = route is not None and (
            route.kind == "amqp" and time.monotonic() - route.used > AMQP_IDLE_S
        )
        if route is not None and (
            idle or route.pid != os.getpid() or settings_changed(app, route.seen)
        ):
            del _ROUTES[app]
            if route.lock.acquire(blocking=False):  # else the garbage collector, after that flush
                route.close(graceful=not idle)
                route.lock.release()
            route = None
    if route is None:
        fresh = Route(app)  # connects: outside the lock, other apps' flushes go on
        with _ROUTES_LOCK:
            route = _ROUTES.setdefault(app, fresh)
        if route is not fresh:
            fresh.close()
    if not route.lock.acquire(blocking=False):
        return None
    route.used = time.monotonic()
    return route


def discard(app: Any, route: Route) -> None:
    """Forget a route whose connection may be broken (the caller holds its lock)."""
    with _ROUTES_LOCK:
        if _ROUTES.get(app) is route:
            del _ROUTES[app]
    route.close(graceful=False)


# Which tasks the fast path takes: the batched executor groups intents by this.
STOCK_APPLY_ASYNC = Task.apply_async
_STOCK_SHADOW_NAME = Task.shadow_name


def task_app(task: Any) -> Any:
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
    return app if _app_sends_fast(app) else None


_APP_FAST: weakref.WeakKeyDictionary[Any, tuple[Any, dict[str, Any], bool]] = (
    weakref.WeakKeyDictionary()
)


def _app_sends_fast(app: Any) -> bool:
    """Not eager, no task-sent events, protocol 2 (read again when ``app.conf`` changed)."""
    conf = app.conf
    seen = _APP_FAST.get(app)
    if seen is not None and seen[0] is conf and seen[1] == conf.changes:
        return seen[2]
    fast = not (conf.task_always_eager or conf.task_send_sent_event or conf.task_protocol != 2)
    _APP_FAST[app] = (conf, dict(conf.changes), fast)
    return fast


def _stock_apply_async(method: Any) -> bool:
    # airlock's own migration intercept (AirlockTask, install()) only defers calls made inside
    # a scope; what airlock itself sends goes straight through it to Celery's method.
    return method is STOCK_APPLY_ASYNC or (
        getattr(method, "__module__", None) == "airlock.integrations.celery"
    )
