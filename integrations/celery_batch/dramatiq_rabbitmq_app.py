"""dramatiq app of the batched-path end-to-end suite on RabbitMQ: a stock worker.

Queues ``matrix_perf_e2e`` and ``matrix_perf_e2e_special``; the actor records each run
(arguments, message id, queue, eta) into Redis DB 9 (its own key).
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.middleware import CurrentMessage

from integrations.common.recorder import Recorder
from tests.services import amqp_url

QUEUE = "matrix_perf_e2e"
SPECIAL_QUEUE = "matrix_perf_e2e_special"
RECORDER = Recorder(db=9, key="airlock:perf:dramatiq-rabbitmq:ran")

broker = RabbitmqBroker(url=amqp_url())
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)
broker.declare_queue(SPECIAL_QUEUE)  # a worker consumes declared queues only


@dramatiq.actor(broker=broker, actor_name="perf_record_rabbitmq", queue_name=QUEUE, max_retries=0)
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
