"""The Celery side of the web end-to-end suite: its app, its tasks and its recorders.

The worker runs this app; the FastAPI and Flask servers send with it (``celery_executor``), and
so does the test process (the sentinels). Env: ``AIRLOCK_WEB_BROKER`` (default Redis DB 1,
queue ``airlock_web_e2e``), ``AIRLOCK_WEB_DB`` (the SQLAlchemy URL of the suite's PostgreSQL
database, read by ``record_order``). Every task records what it ran under Redis DB 2 key
``airlock:e2e:web`` (``RAN``); the servers record each intent's fate under
``airlock:e2e:web:fates`` (``FATES``). The queue and both keys end with ``AIRLOCK_DB_SUFFIX``
when it is set, as the database name does. The Celery suite uses DBs 1 and 2 too: this suite
keeps to its queue and keys and never flushes a database.
"""

from __future__ import annotations

import os

from celery import Celery

from integrations.common.recorder import Recorder
from tests.services import redis_url

SUFFIX = os.environ.get("AIRLOCK_DB_SUFFIX", "")  # runs with different suffixes stay apart
QUEUE = f"airlock_web_e2e{SUFFIX}"
RAN = Recorder(db=2, key=f"airlock:e2e:web{SUFFIX}")
FATES = Recorder(db=2, key=f"airlock:e2e:web{SUFFIX}:fates")

app = Celery("airlock_web_e2e", broker=os.environ.get("AIRLOCK_WEB_BROKER", redis_url(1)))
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="web.record")
def record(label: str) -> None:
    """Record that it ran."""
    RAN.record(label)


@app.task(name="web.record_order")
def record_order(label: str, order_id: int) -> None:
    """Read the order the request wrote: a task sent before the commit would not find it."""
    from sqlalchemy import select

    from integrations.web.shop import engine, orders

    with engine().connect() as connection:
        tag = connection.execute(select(orders.c.tag).where(orders.c.id == order_id)).scalar()
    RAN.record(label, order_id=order_id, order_tag=tag)


def send_sentinel(label: str) -> None:
    """Publish ``record(label)`` straight to the broker, without airlock."""
    app.send_task("web.record", args=(label,))


def clear() -> None:
    """Empty this suite's keys (only them: the databases are shared)."""
    RAN.client.delete(RAN.key, FATES.key)
    held = RAN.client.keys(f"{RAN.key}:held:*") + RAN.client.keys(f"{RAN.key}:release:*")
    if held:
        RAN.client.delete(*held)
