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
# What docs/outbox.md advises: a publish to a broker that is down fails at once, and the relay's
# own retries and backoff take over.
FAIL_FAST: dict[str, Any] = {
    "task_publish_retry": False,
    "broker_transport_options": {"max_retries": 1, "interval_start": 0},
}
# The advice without "interval_start": 0 (kombu's default is 2 s): each failed publish blocks
# about 2 s. Env AIRLOCK_OUTBOX_PUBLISH=slow picks it, to stop a relay in the middle of a send.
SLOW: dict[str, Any] = {
    "task_publish_retry": False,
    "broker_transport_options": {"max_retries": 1},
}

app.conf.update(
    **(SLOW if os.environ.get("AIRLOCK_OUTBOX_PUBLISH") == "slow" else FAIL_FAST),
    task_default_queue=QUEUE,
    task_ignore_result=True,
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
