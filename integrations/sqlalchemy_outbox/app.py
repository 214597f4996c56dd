"""The SQLAlchemy outbox suite's Celery app, tables and ``Outbox``, shared with its processes.

Env: ``AIRLOCK_SQLA_OUTBOX_BROKER`` (default Redis DB 6, shared with the Django outbox suite:
queue ``airlock_sqla_outbox``, recorder key ``airlock:e2e:sqla_outbox``), and
``AIRLOCK_SQLA_OUTBOX_SCHEMA``, the PostgreSQL schema of the tables.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from sqlalchemy import Column, Integer, MetaData, String, Table

from airlock.integrations.sqlalchemy.outbox import Outbox
from integrations.common.recorder import Recorder
from tests.services import redis_url

QUEUE = "airlock_sqla_outbox"
RECORDER = Recorder(db=6, key="airlock:e2e:sqla_outbox")
SCHEMA = os.environ.get("AIRLOCK_SQLA_OUTBOX_SCHEMA") or None

app = Celery(
    "airlock_sqla_outbox_e2e",
    broker=os.environ.get("AIRLOCK_SQLA_OUTBOX_BROKER", redis_url(6)),
    set_as_current=False,
)
app.conf.update(
    task_publish_retry=False,
    broker_transport_options={"max_retries": 1, "interval_start": 0},
    task_default_queue=QUEUE,
    task_ignore_result=True,
    broker_connection_timeout=2,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    worker_hijack_root_logger=False,
)


@app.task(bind=True, name="sqla_outbox_e2e.record_delivery")
def record_delivery(self: Any, order_id: int) -> None:
    RECORDER.record("delivered", order=order_id, task_id=self.request.id)


metadata = MetaData(schema=SCHEMA)
orders = Table(
    "orders", metadata, Column("id", Integer, primary_key=True), Column("note", String(50))
)
outbox = Outbox(
    metadata,
    schema=SCHEMA,
    executor="airlock.integrations.executors.celery.celery_executor",
    celery_app="integrations.sqlalchemy_outbox.app.app",
    grace=0.0,
    backoff=0.2,
    max_backoff=1.0,
    max_attempts=1000,
    interval=0.1,
)
