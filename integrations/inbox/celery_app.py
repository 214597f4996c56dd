"""The Celery consumer of the inbox suite: ``acks_late``, so a message whose worker dies before
acknowledging it is redelivered. Env ``AIRLOCK_INBOX_BROKER`` picks the broker (default Redis
DB 10, reserved for this suite); ``AIRLOCK_INBOX_WORKER=1`` sets Django up in a worker."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

from airlock.integrations.django.inbox import celery_apply_once
from integrations.inbox import effects
from tests.services import redis_url

QUEUE = "airlock_inbox_celery"

if os.environ.get("AIRLOCK_INBOX_WORKER") == "1":
    import django

    django.setup()

app = Celery(
    "airlock_inbox_e2e",
    broker=os.environ.get("AIRLOCK_INBOX_BROKER", redis_url(10)),
    set_as_current=False,
)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    task_acks_late=True,
    task_publish_retry=False,
    broker_transport_options={"max_retries": 1, "interval_start": 0},
    broker_connection_timeout=2,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
)

apply_order = celery_apply_once(effects.increment)


@app.task(bind=True, name="inbox_e2e.apply_order")
def apply_order_task(self: Any, order: int, stall: str = "") -> None:
    effects.deliver(order, self.request.id, "celery", apply_order, stall)
