"""Engines on SQLite and PostgreSQL, a table of our own, and a fate recorder for every test.

PostgreSQL: ``postgresql+psycopg`` (sync) and ``postgresql+asyncpg`` (async) at the test
service, in a schema named after this process, dropped afterwards, so parallel runs never meet.
SQLite: a file per test, with SQLAlchemy's documented pysqlite recipe (the driver's own
transaction handling would not emit BEGIN, so SAVEPOINTs would not nest): rollbacks and
savepoints really happen in the database. Nothing here imports SQLAlchemy at load time, so
without it the suite's modules skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from airlock import _events
from tests.services import PG_USER, SERVICES, require_service

SCHEMA = f"airlock_sqla_{os.getpid()}_{uuid.uuid4().hex[:6]}"
FATES = (
    _events.DISPATCHED, _events.FAILED, _events.DROPPED, _events.DISCARDED, _events.ROLLED_BACK
)  # fmt: skip


def pg_url(driver: str) -> str:
    host, port = SERVICES["postgres"]
    return f"postgresql+{driver}://{PG_USER}@{host}:{port}/test"


def sqlite_recipe(sync_engine: Any) -> None:
    """SQLAlchemy's recipe for real SQLite transactions and savepoints (pysqlite, aiosqlite)."""
    from sqlalchemy import event

    @event.listens_for(sync_engine, "connect")
    def _no_driver_transactions(dbapi_connection, record):
        dbapi_connection.isolation_level = None

    @event.listens_for(sync_engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN")


def metadata() -> Any:
    from sqlalchemy import Column, Integer, MetaData, String, Table

    meta = MetaData()
    Table("orders", meta, Column("id", Integer, primary_key=True), Column("note", String(50)))
    return meta


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    """Our schema on the PostgreSQL test database; it and the schemas of second engines
    (named after it) are dropped at the end of the run."""
    require_service("postgres")
    from sqlalchemy import create_engine, text

    admin = create_engine(pg_url("psycopg"))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    try:
        yield SCHEMA
    finally:
        with admin.begin() as connection:
            names = connection.execute(
                text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"),
                {"prefix": SCHEMA},
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


def make_engine(
    kind: str, tmp_path, name: str = "db", *, asynchronous: bool = False, driver: str = "asyncpg"
) -> Any:
    """A fresh engine with an empty ``orders`` table: ``kind`` is "sqlite" or "postgres";
    ``driver`` the async PostgreSQL driver ("asyncpg" or "psycopg_async")."""
    from sqlalchemy import create_engine

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / (name + '.sqlite3')}"
        create_engine(url).dispose()  # the file
        sync = create_engine(url)
        metadata().create_all(sync)
        sync.dispose()
        if asynchronous:
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine(url.replace("sqlite://", "sqlite+aiosqlite://"))
            sqlite_recipe(engine.sync_engine)
            return engine
        engine = create_engine(url)
        sqlite_recipe(engine)
        return engine
    # PostgreSQL: one table per engine name, in our schema.
    schema = f"{SCHEMA}_{name}" if name != "db" else SCHEMA
    from sqlalchemy import text

    sync = create_engine(pg_url("psycopg"))
    with sync.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(text(f'DROP TABLE IF EXISTS "{schema}".orders'))
    translated = sync.execution_options(schema_translate_map={None: schema})
    metadata().create_all(translated)
    sync.dispose()
    options = {"schema_translate_map": {None: schema}}
    if asynchronous:
        from sqlalchemy.ext.asyncio import create_async_engine

        return create_async_engine(pg_url(driver), execution_options=options)
    return create_engine(pg_url("psycopg"), execution_options=options)


@pytest.fixture(params=["sqlite", "postgres"])
def db_kind(request) -> str:
    if request.param == "postgres":
        request.getfixturevalue("pg_schema")
    return request.param


class Fates:
    """Every fate event during the test, as (fate, intent, detail), and what was enqueued."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []
        self.enqueued: list[Any] = []

    def __call__(self, event: str, intent: Any, scope: Any, detail: Any) -> None:
        if event == _events.ENQUEUED:
            self.enqueued.append(intent)
        elif event in FATES:
            self.events.append((event, intent, detail))

    def of(self, intent: Any) -> list[str]:
        return [fate for fate, i, _ in self.events if i is intent]

    def by_arg(self) -> dict[Any, str]:
        """First positional argument of each intent -> its one fate."""
        return {i.args[0]: fate for fate, i, _ in self.events}


@pytest.fixture(autouse=True)
def fates(request: pytest.FixtureRequest) -> Iterator[Fates]:
    """The fates of the test; afterwards every intent enqueued in it has exactly one fate.

    Parametrized indirectly with False: nobody listens (a listener sends every enqueue the
    general way, so a scope's direct path would go untested), and only the scope check remains.
    """
    import airlock

    record = Fates()
    observed = getattr(request, "param", True)
    unsubscribe = _events.subscribe(record) if observed else (lambda: None)
    try:
        yield record
    finally:
        unsubscribe()
    assert airlock.get_current_scope() is None, "a test left a scope active"
    for intent in record.enqueued:
        assert len(record.of(intent)) == 1, f"{intent}: fates {record.of(intent)}"
