"""What the FastAPI and Flask apps of the web suite share: the tables, airlock's setup, fates.

Each request writes an ``orders`` row and enqueues Celery tasks through ``celery_executor``,
with ``SQLAlchemyScope`` as the scope class and the app's session factory tracked. Every fate
an intent gets in the server process is recorded into ``FATES`` (label and fate), so a test
knows the server has settled a request before it sends its sentinel.

``outbox``: the SQLAlchemy outbox on the same ``metadata`` (the FastAPI app installs it; the
relay process loads it with ``--outbox integrations.web.shop:outbox``), with the sync engine of
``AIRLOCK_WEB_DB`` for its fate updates. ``grace=0``: the relay only runs once the server is
dead, so it may take a row at once (an application keeps the default 60 s).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine

import airlock
from airlock import _events
from airlock.integrations.executors.celery import celery_executor
from airlock.integrations.sqlalchemy import SQLAlchemyScope
from airlock.integrations.sqlalchemy.outbox import Outbox
from integrations.web.tasks import FATES, RAN

metadata = MetaData()
orders = Table(
    "web_orders", metadata, Column("id", Integer, primary_key=True), Column("tag", String(100))
)

FINAL = {
    _events.DISPATCHED,
    _events.FAILED,
    _events.DISCARDED,
    _events.ROLLED_BACK,
    _events.DROPPED,
}


@functools.cache
def engine() -> Engine:
    """The sync engine on the suite's database (``AIRLOCK_WEB_DB``, a psycopg URL)."""
    return create_engine(os.environ["AIRLOCK_WEB_DB"], pool_pre_ping=True)


outbox = Outbox(
    metadata,
    engine=engine() if os.environ.get("AIRLOCK_WEB_DB") else None,  # unset in the test process
    executor="airlock.integrations.executors.celery.celery_executor",
    celery_app="integrations.web.tasks.app",
    grace=0.0,
    backoff=0.2,
    max_backoff=1.0,
    interval=0.1,
)


def record_fate(event: str, intent: airlock.Intent, scope: Any, detail: Any) -> None:
    if event in FINAL:
        FATES.record(str(intent.args[0]), fate=event)


def configure_airlock() -> None:
    """Celery as the executor, SQLAlchemyScope as the scope class, fates recorded."""
    airlock.configure(executor=celery_executor, scope_cls=SQLAlchemyScope)
    # A test-only observer (airlock's event list, as airlock.testing uses it): not an API.
    _events.subscribe(record_fate)


def release_key(tag: str) -> str:
    """The Redis key (DB 2) that lets a held streaming body or request finish."""
    return f"{RAN.key}:release:{tag}"


def held_key(tag: str) -> str:
    """The Redis key (DB 2) a held request sets once its transaction has ended."""
    return f"{RAN.key}:held:{tag}"
