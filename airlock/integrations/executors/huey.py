"""``huey_executor``: enqueue each intent on its task's huey instance, like ``schedule()``.

Dispatch options: ``delay`` (seconds or a timedelta), ``eta`` (a datetime; naive means UTC),
``priority``, ``retries``, ``retry_delay``, ``expires`` (seconds, timedelta or datetime),
``timeout``. The intent's ``key`` (else its ``id``) becomes the huey task id. Task keyword
arguments named like these options are never mistaken for them. A plain function runs
synchronously (documented fallback).

``huey_batch_executor`` (opt-in) sends the same messages a whole flush at a time: for a huey
task whose storage is huey's ``RedisStorage`` (LPUSH) or ``PriorityRedisStorage`` (ZADD), each
message is serialized by the huey instance exactly as ``huey.enqueue`` would (expiry resolved,
``SIGNAL_ENQUEUED`` sent), then pushed with the others in one round trip. Anything else
(another storage, immediate mode, plain functions, a huey or redis-py release outside
``HUEY_FAST_PATH``'s verified range) goes one by one. Failures raise ``BatchDispatchError``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Hashable
from datetime import datetime, timezone
from typing import Any

from airlock.integrations._extras import require

with require("huey", __name__):
    from huey import signals as huey_signals
    from huey.api import TaskWrapper
    from huey.storage import RedisPriorityQueue, RedisStorage

from airlock._intent import Intent
from airlock.exceptions import UnknownOptionError
from airlock.executors._base import check_options
from airlock.integrations.executors._batch import (
    BatchingExecutor,
    Commands,
    NotBatchable,
    publish_in_transactions,
)
from airlock.integrations.executors._queues import (
    check_arguments,
    to_datetime,
    to_timedelta,
)
from airlock.integrations.executors._versions import FastPath
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsPrepare

__all__ = [
    "HUEY_FAST_PATH",
    "HueyBatchExecutor",
    "HueyExecutor",
    "huey_batch_executor",
    "huey_executor",
]

_TASK_OPTIONS = ("priority", "retries", "retry_delay", "retry_backoff", "expires", "timeout")
_OPTIONS = frozenset({"delay", "eta", "id", *_TASK_OPTIONS})


class HueyExecutor(SupportsPrepare):
    """Sends intents for huey tasks; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: arguments the huey instance's serializer (pickle) rejects raise
    ``TypeError`` naming the argument; ``delay`` and a relative ``expires`` become absolute
    datetimes, so a late flush does not push the schedule back. ``priority`` on a huey whose
    storage has no priorities (plain ``RedisHuey``) is an ``UnknownOptionError`` at enqueue.
    """

    known_options = _OPTIONS

    def __call__(self, intent: Intent) -> None:
        task = intent.task
        if not isinstance(task, TaskWrapper):
            sync_executor(intent)
            return
        task.huey.enqueue(self.message(intent))

    def message(self, intent: Intent) -> Any:
        """The huey ``Task`` message for an intent of a huey task (what ``__call__`` enqueues)."""
        task = intent.task
        options = self._absolute(intent.dispatch_options)
        _check_options(intent)
        huey = task.huey
        eta = options.get("eta")
        if eta is not None:
            eta = _for_huey(to_datetime(eta, "eta"), huey.utc)
        expires = options.get("expires")
        if isinstance(expires, datetime):  # huey itself converts an aware one for its clock
            expires = to_datetime(expires, "expires")
        return task.task_class(
            intent.args,
            intent.kwargs,
            id=str(options.get("id") or intent.key or intent.id),
            eta=eta,
            **{k: options[k] for k in _TASK_OPTIONS if k != "expires" and k in options},
            expires=expires,
        )

    def prepare(self, intent: Intent) -> Intent:
        task = intent.task
        if not isinstance(task, TaskWrapper):  # runs inline; its options are still huey's
            check_options(str(intent), "huey dispatch", intent.dispatch_options, _OPTIONS)
            return intent
        _check_options(intent)
        check_arguments(intent, task.huey.serializer.serialize, "huey's serializer (pickle)")
        options = intent.dispatch_options
        if "delay" in options or _relative(options.get("expires")):
            return intent.replace(dispatch_options=self._absolute(options))
        return intent

    @staticmethod
    def _absolute(source: Any) -> dict[str, Any]:
        options: dict[str, Any] = dict(source)
        now = datetime.now(timezone.utc)
        delay = options.pop("delay", None)
        if delay is not None:
            if options.get("eta") is not None:
                raise ValueError("huey dispatch options have both 'delay' and 'eta'; give one")
            options["eta"] = now + to_timedelta(delay, 1.0, "delay")
        if _relative(options.get("expires")):
            options["expires"] = now + to_timedelta(options["expires"], 1.0, "expires")
        return options

    def __repr__(self) -> str:
        return "huey_executor"


def _check_options(intent: Intent) -> None:
    options = intent.dispatch_options
    check_options(str(intent), "huey dispatch", options, _OPTIONS)
    storage = intent.task.huey.storage
    if options.get("priority") is not None and not getattr(storage, "priority", True):
        raise UnknownOptionError(
            f"{intent}: huey dispatch option 'priority' needs a storage with priorities; "
            f"{type(storage).__name__} has none (use PriorityRedisHuey, SqliteHuey, ...)",
            unknown=["priority"],
            known=_OPTIONS - {"priority"},
        )


def _relative(value: Any) -> bool:
    return value is not None and not isinstance(value, datetime)


def _for_huey(moment: datetime, utc: bool) -> datetime:
    # huey compares naive datetimes: UTC ones when huey.utc (the default), else local time.
    if utc:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.astimezone().replace(tzinfo=None)


huey_executor = HueyExecutor()
"""The huey executor to configure: ``AIRLOCK = {"EXECUTOR": "...huey_executor"}``."""


# The batched variant: one MULTI/EXEC per chunk of a flush, on huey's Redis storages.

_LIST_ENQUEUE = RedisStorage.enqueue
_SORTED_SET_ENQUEUE = RedisPriorityQueue.enqueue

_SIGNAL_ENQUEUED = getattr(huey_signals, "SIGNAL_ENQUEUED", None)

#: huey and redis-py releases whose ``enqueue`` / storage writes the batched path copies.
HUEY_FAST_PATH = FastPath(
    "huey_batch_executor's Redis fast path", {"huey": ("2.5", "3.6"), "redis": ("5.0", "8.2")}
)


class HueyBatchExecutor(BatchingExecutor, HueyExecutor):
    """``huey_executor`` that sends a whole flush to a Redis-backed huey in one round trip.

    Same ``prepare`` and the same messages as ``huey_executor``; intents are recorded when
    called and published in ``after_flush``. On failure it raises ``BatchDispatchError``.
    """

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        groups: list[Hashable | None] = []
        fast = HUEY_FAST_PATH.enabled()  # else huey.enqueue for each (one warning per process)
        for intent in intents:
            task = intent.task
            if not fast or not isinstance(task, TaskWrapper):
                groups.append(None)
                continue
            huey = task.huey
            enqueue = type(huey.storage).enqueue
            plain = enqueue is _LIST_ENQUEUE or enqueue is _SORTED_SET_ENQUEUE
            groups.append(huey if plain and not huey._immediate else None)
        return groups

    def send_one(self, intent: Intent) -> None:
        HueyExecutor.__call__(self, intent)

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        huey = group
        storage = huey.storage
        sorted_set = type(storage).enqueue is _SORTED_SET_ENQUEUE

        def build(intent: Intent) -> tuple[Commands, None]:
            message = self.message(intent)
            if message.priority and not sorted_set:
                raise NotBatchable("priority on a storage without priorities")  # huey raises
            # huey.enqueue, up to the storage call:
            if message.expires:
                message.resolve_expires(huey.utc)
            if _SIGNAL_ENQUEUED is not None:  # huey >= 2.5.1 signals it; 2.5.0 has no such signal
                huey._emit(_SIGNAL_ENQUEUED, message)
            data = huey.serialize_task(message)
            if not sorted_set:
                return [("lpush", (storage.queue_key, data))], None
            priority = -message.priority if message.priority else 0
            prefix = struct.pack(">Q", int(time.time() * 1e6))  # as RedisPriorityQueue does
            return [("zadd", (storage.queue_key, {prefix + data: priority}))], None

        publish_in_transactions(
            storage.conn, intents, build, self.send_one, chunk_size=self.chunk_size
        )

    def __repr__(self) -> str:
        return "huey_batch_executor"


huey_batch_executor = HueyBatchExecutor()
"""Batched huey executor: ``AIRLOCK = {"EXECUTOR": "...huey.huey_batch_executor"}``."""
