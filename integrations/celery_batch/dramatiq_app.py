"""dramatiq app of the batched-path end-to-end suite: a stock worker on Redis DB 9.

The actor records each run (arguments, message id, queue, eta) into Redis DB 9 (another key).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from integrations.common.recorder import Recorder
from tests.services import redis_url

QUEUE = "airlock_perf"
SPECIAL_QUEUE = "airlock_perf_special"
RECORDER = Recorder(db=9, key="airlock:perf:dramatiq:ran")

broker = RedisBroker(url=redis_url(9), namespace="airlock-perf-e2e")
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)
broker.declare_queue(SPECIAL_QUEUE)  # a worker consumes declared queues only


@dramatiq.actor(actor_name="perf_record", queue_name=QUEUE, max_retries=0)
def record(label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with what a consumer sees of the message."""
    message = CurrentMessage.get_current_message()
    RECORDER.record(
        label,
        args=list(args),
        kwargs=kwargs,
        task_id=message.message_id,
        queue=message.queue_name,
        eta=message.options.get("eta"),
    )
