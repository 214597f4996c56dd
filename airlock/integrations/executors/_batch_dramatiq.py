"""Batched dramatiq publishing on Redis: a flush's messages go in one MULTI/EXEC per chunk.

``DramatiqBatchExecutor`` records intents during a flush and publishes them in ``after_flush``.
For an actor on dramatiq's ``RedisBroker``, each message is built by ``dramatiq_executor`` and
prepared exactly as ``RedisBroker.enqueue`` prepares it (a fresh ``redis_message_id``, the
delay queue and ``eta`` for delayed messages, middleware ``before_enqueue``), then every
message's call of the broker's own ``dispatch`` Lua script goes in one round trip; middleware
``after_enqueue`` runs once the chunk is confirmed. Other brokers and plain functions go
through ``dramatiq_executor`` one by one. Failures raise ``BatchDispatchError``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any
from uuid import uuid4

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker
    from dramatiq.common import current_millis, dq_name

from airlock._intent import Intent
from airlock.integrations.executors._batch import (
    BatchingExecutor,
    Commands,
    publish_in_transactions,
)
from airlock.integrations.executors.dramatiq import DramatiqExecutor

__all__ = ["DramatiqBatchExecutor", "dramatiq_batch_executor"]

CHUNK_SIZE = 1000
_STOCK_ENQUEUE = RedisBroker.enqueue


class DramatiqBatchExecutor(BatchingExecutor, DramatiqExecutor):
    """``dramatiq_executor`` that sends a whole flush to a ``RedisBroker`` in one round trip.

    Same ``prepare`` and the same messages as ``dramatiq_executor``; intents are recorded when
    called and published in ``after_flush``. On failure it raises ``BatchDispatchError``.
    """

    def __init__(self, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        self.chunk_size = chunk_size

    def batch_groups(self, intents: list[Intent]) -> list[Hashable | None]:
        groups: list[Hashable | None] = []
        for intent in intents:
            actor = intent[0]
            broker = actor.broker if isinstance(actor, dramatiq.Actor) else None
            stock = broker is not None and type(broker).enqueue is _STOCK_ENQUEUE
            groups.append(broker if stock else None)
        return groups

    def send_one(self, intent: Intent) -> None:
        DramatiqExecutor.__call__(self, intent)

    def publish_batch(self, group: Any, intents: list[Intent]) -> None:
        broker = group
        dispatch = broker.scripts["dispatch"]
        sha = broker.client.script_load(dispatch.script)  # EVALSHA inside MULTI needs it loaded
        keys = (1, broker.namespace)
        unpack = broker._max_unpack_size()

        def build(intent: Intent) -> tuple[Commands, tuple[Any, Any]]:
            message, delay = self.message(intent)
            # RedisBroker.enqueue, up to its do_enqueue call:
            queue_name = message.queue_name
            message = message.copy(options={"redis_message_id": str(uuid4())})
            if delay is not None:
                queue_name = dq_name(queue_name)
                eta = current_millis() + delay
                message = message.copy(queue_name=queue_name, options={"eta": eta})
            broker.emit_before("enqueue", message, delay)
            args = (
                "enqueue", current_millis(), queue_name, broker.broker_id,
                broker.heartbeat_timeout, broker.dead_message_ttl,
                broker._should_do_maintenance("enqueue"), unpack,
                message.options["redis_message_id"], message.encode(),
            )  # fmt: skip
            return [("evalsha", (sha, *keys, *args))], (message, delay)

        def after(notes: list[tuple[Any, Any]]) -> None:
            for message, delay in notes:
                broker.emit_after("enqueue", message, delay)

        publish_in_transactions(
            broker.client, intents, build, self.send_one, chunk_size=self.chunk_size, on_sent=after
        )

    def __repr__(self) -> str:
        return "dramatiq_batch_executor"


dramatiq_batch_executor = DramatiqBatchExecutor()
"""Batched dramatiq executor: ``AIRLOCK = {"EXECUTOR": "...dramatiq.dramatiq_batch_executor"}``."""
