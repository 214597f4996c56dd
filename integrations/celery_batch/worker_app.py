"""Celery app of the batched-path end-to-end suite: a stock worker on Redis DB 9.

The worker runs ``record`` as plain Celery (no airlock code on the worker side); each run is
written to Redis DB 9 (another key) with its arguments, task id, queue and the time it ran.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from integrations.common.recorder import Recorder
from tests.services import redis_url

DEFAULT_QUEUE = "airlock_perf_default"
SPECIAL_QUEUE = "airlock_perf_special"
RECORDER = Recorder(db=9)

app = Celery("airlock_perf_e2e", broker=redis_url(9))
app.conf.update(
    task_default_queue=DEFAULT_QUEUE,
    task_ignore_result=True,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="perf_e2e.record", bind=True)
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
