"""What the FastAPI and Flask apps of the web suite share: the table, airlock's setup, fates.

Each request writes an ``orders`` row and enqueues Celery tasks through ``celery_executor``,
with ``SQLAlchemyScope`` as the scope class and the app's session factory tracked. Every fate
an intent gets in the server process is recorded into ``FATES`` (label and fate), so a test
knows the server has settled a request before it sends its sentinel.
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
from integrations.web.tasks import FATES

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


def record_fate(event: str, intent: airlock.Intent, scope: Any, detail: Any) -> None:
    if event in FINAL:
        FATES.record(str(intent.args[0]), fate=event)


def configure_airlock() -> None:
    """Celery as the executor, SQLAlchemyScope as the scope class, fates recorded."""
    airlock.configure(executor=celery_executor, scope_cls=SQLAlchemyScope)
    # A test-only observer (airlock's event list, as airlock.testing uses it): not an API.
    _events.subscribe(record_fate)


def release_key(tag: str) -> str:
    """The Redis key (DB 2) that lets a held streaming body finish."""
    return f"airlock:e2e:web:release:{tag}"
