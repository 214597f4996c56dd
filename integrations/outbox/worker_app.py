"""The Celery app of the outbox suite: relays publish with it, a worker consumes with it.

Env ``AIRLOCK_OUTBOX_BROKER`` picks the broker (default Redis DB 6, reserved for this suite).
The task records each delivery (order id and Celery task id) in Redis DB 6 on the main server,
so the consumer side can be checked for loss and duplicates whatever broker carried it.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from integrations.common.recorder import Recorder
from tests.services import redis_url

QUEUE = "airlock_outbox"
RECORDER = Recorder(db=6)

app = Celery(
    "airlock_outbox_e2e",
    broker=os.environ.get("AIRLOCK_OUTBOX_BROKER", redis_url(6)),
    set_as_current=False,  # the test process also loads other suites' apps
)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    # Fail fast when the broker is down: the relay's own retries and backoff take over.
    task_publish_retry=False,
    broker_transport_options={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
    broker_connection_timeout=2,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
)


@app.task(bind=True, name="outbox_e2e.record_delivery")
def record_delivery(self: Any, order_id: int) -> None:
    RECORDER.record("delivered", order=order_id, task_id=self.request.id)
