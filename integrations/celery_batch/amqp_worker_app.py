"""Celery app of the batched-path end-to-end suite on RabbitMQ: a stock worker, no airlock code.

Queues ``broker_e2e_default`` and ``broker_e2e_special`` on the default vhost; each run of
``record`` is written to Redis DB 7 with its arguments, task id, queue and the time it ran.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from integrations.common.recorder import Recorder
from tests.services import amqp_url

DEFAULT_QUEUE = "broker_e2e_default"
SPECIAL_QUEUE = "broker_e2e_special"
RECORDER = Recorder(db=7)

app = Celery("airlock_perf_e2e_amqp", broker=amqp_url())
app.conf.update(
    task_default_queue=DEFAULT_QUEUE,
    task_ignore_result=True,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="perf_e2e_amqp.record", bind=True)
def record(self: Any, label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with what a consumer sees of the message."""
    RECORDER.record(
        label,
        args=list(args),
        kwargs=kwargs,
        task_id=self.request.id,
        queue=(self.request.delivery_info or {}).get("routing_key"),
        eta=self.request.eta,
    )
