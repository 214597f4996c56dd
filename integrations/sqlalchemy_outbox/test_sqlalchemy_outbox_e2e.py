"""The SQLAlchemy outbox end to end: PostgreSQL, a plain SQLAlchemy program SIGKILLed right
after its commit, the relay as ``python -m airlock.relay``, Celery on Redis, a real worker.

Tables live in a PostgreSQL schema of this run (dropped afterwards); the broker queue
``airlock_sqla_outbox`` and the recorder key are on Redis DB 6 (shared with the outbox suite).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import PG_USER, SERVICES, redis_url, require_module, require_service

require_module("celery", "celery")
require_module("redis", "celery")
require_module("sqlalchemy", "sqlalchemy")

SCHEMA = f"airlock_sqla_outbox_{os.getpid()}_{uuid.uuid4().hex[:6]}"
os.environ["AIRLOCK_SQLA_OUTBOX_SCHEMA"] = SCHEMA  # before the app module builds its tables

from sqlalchemy import create_engine, func, select, text  # noqa: E402

from integrations.sqlalchemy_outbox.app import (  # noqa: E402
    QUEUE,
    RECORDER,
    app,
    metadata,
    orders,
    outbox,
    record_delivery,
)
from tests.processes import ROOT, Worker, running, wait_until  # noqa: E402

pytestmark = pytest.mark.timeout(180)


def pg_url() -> str:
    host, port = SERVICES["postgres"]
    return f"postgresql+psycopg://{PG_USER}@{host}:{port}/test"


@pytest.fixture
def engine() -> Iterator[Any]:
    require_service("postgres")
    require_service("redis")
    engine = create_engine(pg_url())
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    metadata.create_all(engine)
    RECORDER.flush()
    try:
        yield engine
    finally:
        RECORDER.flush()
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{SCHEMA}" CASCADE'))
        engine.dispose()


@pytest.fixture
def env() -> dict[str, str]:
    return {"AIRLOCK_SQLA_OUTBOX_SCHEMA": SCHEMA, "AIRLOCK_SQLA_OUTBOX_BROKER": redis_url(6)}


def relay(env: dict[str, str]) -> contextlib.AbstractContextManager[Worker]:
    argv = ["python", "-m", "airlock.relay", "--url", pg_url(),
            "--outbox", "integrations.sqlalchemy_outbox.app:outbox"]  # fmt: skip
    return running(argv, env=env, ready=lambda w: "relaying from" in w.output())


def celery_worker(env: dict[str, str]) -> contextlib.AbstractContextManager[Worker]:
    argv = ["python", "-m", "celery", "-A", "integrations.sqlalchemy_outbox.app", "worker",
            "--pool=solo", "-Q", QUEUE, "-l", "info", "--without-heartbeat", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    return running(argv, env=env, ready=lambda w: " ready." in w.output())


def deliveries() -> list[dict[str, Any]]:
    return [e for e in RECORDER.entries() if e["label"] == "delivered"]


def statuses(engine: Any) -> dict[str, int]:
    table = outbox.table
    with engine.connect() as connection:
        found = connection.execute(
            select(table.c.status, func.count()).group_by(table.c.status)
        ).all()
    return {status: n for status, n in found}


def test_sigkill_after_commit_loses_no_durable_intent(engine: Any, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "integrations.sqlalchemy_outbox.writer", pg_url(), "200", "20"],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()[-3000:]
    with engine.connect() as connection:
        ids = set(connection.execute(select(orders.c.id)).scalars())
    assert len(ids) == 200  # the rolled-back orders are gone, and so are their rows:
    assert statuses(engine) == {"pending": 200}
    assert deliveries() == []  # nothing left the process
    with celery_worker(env), relay(env) as relay_process:
        wait_until(lambda: len(deliveries()) >= 200, timeout=90, interval=0.2, what="deliveries")
        wait_until(lambda: statuses(engine) == {"sent": 200}, timeout=30, what="rows sent")
        # A sentinel behind everything (the solo worker runs in order): nothing else was sent.
        with app.connection_for_write(redis_url(6)) as connection:
            record_delivery.apply_async((-1,), task_id="sentinel", connection=connection)
        wait_until(lambda: any(e["order"] == -1 for e in deliveries()), what="the sentinel")
        relay_process.stop()  # SIGTERM: it stops and prints its counters
        assert relay_process.proc.returncode == 0, relay_process.output()[-3000:]
        assert "sent=200 retried=0 dead=0" in relay_process.output()
    got = [e["order"] for e in deliveries()[:-1]]
    assert sorted(got) == sorted(ids)  # every committed order once, none rolled back
