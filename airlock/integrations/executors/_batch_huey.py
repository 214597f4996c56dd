"""Batched huey publishing on Redis: a flush's tasks go in one MULTI/EXEC per chunk.

``HueyBatchExecutor`` records intents during a flush and publishes them in ``after_flush``.
For a huey task whose storage is huey's ``RedisStorage`` (LPUSH) or ``PriorityRedisStorage``
(ZADD), each message is built by ``huey_executor`` and serialized by the huey instance exactly
as ``huey.enqueue`` would (expiry resolved, ``SIGNAL_ENQUEUED`` sent), then pushed with the
others in one round trip. Anything else (another storage, immediate mode, plain functions)
goes through ``huey_executor`` one by one. Failures raise ``BatchDispatchError``.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Hashable
from typing import Any

from airlock.integrations._extras import require

with require("huey", __name__):
    from huey import signals as huey_signals
    from huey.api import TaskWrapper
    from huey.storage import RedisPriorityQueue, RedisStorage

from airlock._intent import Intent
from airlock.integrations.executors._batch import (
    BatchingExecutor,
    Commands,
    NotBatchable,
    publish_in_transactions,
)
from airlock.integrations.executors.huey import HueyExecutor

__all__ = ["HueyBatchExecutor", "huey_batch_executor"]

CHUNK_SIZE = 1000
_LIST_ENQUEUE = RedisStorage.enqueue
_SORTED_SET_ENQUEUE = RedisPriorityQueue.enqueue


class HueyBatchExecutor(BatchingExecutor, HueyExecutor):
    """``huey_executor`` that sends a whole flush to a Redis-backed huey in one round trip.

    Same ``prepare`` and the same messages as ``huey_executor``; intents are recorded when
    called and published in ``after_flush``. On failure it raises ``BatchDispatchError``.
    """

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        self.chunk_size = chunk_size

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        groups: list[Hashable | None] = []
        for intent in intents:
            task = intent[0]
            if not isinstance(task, TaskWrapper):
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
            huey._emit(huey_signals.SIGNAL_ENQUEUED, message)
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
