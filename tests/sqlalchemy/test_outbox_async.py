"""The SQLAlchemy outbox under an ``AsyncSession``: aiosqlite, asyncpg and psycopg's async driver.

Rows of durable intents are inserted on the session's connection right before its COMMIT
(``outbox/deferred.py``); the fate updates after it go through ``Outbox(engine=...)``, a sync
engine on the same database. Each test reads the rows with that sync engine, i.e. another
connection, so "no row yet" means nothing committed. The autouse ``fates`` fixture checks that
every intent ended with exactly one fate.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.services import require_module

require_module("sqlalchemy", "sqlalchemy")

from sqlalchemy import create_engine, insert, select  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

import airlock  # noqa: E402
from airlock.exceptions import UsageError  # noqa: E402
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track  # noqa: E402
from airlock.integrations.sqlalchemy.outbox import Outbox, recorder  # noqa: E402
from tests.sqlalchemy.conftest import SCHEMA, make_engine, metadata, sqlite_recipe  # noqa: E402
from tests.sqlalchemy.outbox_app import deliver  # noqa: E402

ORDERS = metadata().tables["orders"]
DURABLE = {"durable": True}


class Recorder:
    """An executor that records the first argument of each intent it is handed."""

    def __init__(self) -> None:
        self.args: list[object] = []

    def __call__(self, intent: airlock.Intent) -> None:
        self.args.append(intent.args[0])


@pytest.fixture(params=["aiosqlite", "asyncpg", "psycopg_async"])
def engines(request, tmp_path):
    """(async engine, sync engine) on one database: SQLite file or our PostgreSQL schema."""
    if request.param == "aiosqlite":
        require_module("aiosqlite", "dev")
        async_engine = make_engine("sqlite", tmp_path, asynchronous=True)
        sync = create_engine(async_engine.url.set(drivername="sqlite"))
        sqlite_recipe(sync)
    else:
        require_module("asyncpg" if request.param == "asyncpg" else "psycopg", "dev")
        request.getfixturevalue("pg_schema")
        async_engine = make_engine("postgres", tmp_path, asynchronous=True, driver=request.param)
        sync = create_engine(
            async_engine.url.set(drivername="postgresql+psycopg"),
            execution_options=async_engine.sync_engine.get_execution_options(),
        )
    yield async_engine, sync
    sync.dispose()


@pytest.fixture
def outbox(engines):
    _, sync = engines
    schema = SCHEMA if sync.dialect.name == "postgresql" else None
    box = Outbox(schema=schema, engine=sync, grace=0.0, backoff=0.0)
    box.table.drop(sync, checkfirst=True)
    box.create_table(sync)
    box.install()
    yield box
    recorder.uninstall()
    recorder.forget()


@pytest.fixture
def run(engines) -> Callable[[Callable[[Any], Awaitable[None]]], None]:
    """Run ``body(maker)`` on a new event loop, with a tracked ``async_sessionmaker``."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    async_engine, _ = engines
    maker = track(async_sessionmaker(async_engine, expire_on_commit=False))

    def runner(body: Callable[[Any], Awaitable[None]]) -> None:
        async def main() -> None:
            try:
                await body(maker)
            finally:
                await async_engine.dispose()

        asyncio.run(main())

    return runner


def nothing(intent: airlock.Intent) -> None:
    """An in-process executor that sends nothing (the relay is under test)."""


def scope(executor, **kwargs):
    return airlock.scope(_cls=SQLAlchemyScope, executor=executor, **kwargs)


def statuses(outbox, engine) -> list[tuple[object, str]]:
    table = outbox.table
    with engine.connect() as connection:
        found = connection.execute(select(table.c.payload, table.c.status).order_by(table.c.id))
        return [(json.loads(payload)["args"][0], status) for payload, status in found]


def notes(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(ORDERS.c.note).order_by(ORDERS.c.id)).scalars())


def test_a_durable_intent_is_written_at_the_commit_and_marked_sent(outbox, engines, run, fates):
    _, sync = engines
    sent = Recorder()

    async def body(maker) -> None:
        async with scope(sent):
            async with maker() as session, session.begin():
                await session.execute(insert(ORDERS).values(note="a"))
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                airlock.enqueue(deliver, 2)  # not durable: no row
            # committed, the scope still open: the row is there, waiting for the flush
            assert statuses(outbox, sync) == [(1, "pending")]
            assert sent.args == []
        assert sent.args == [1, 2]

    run(body)
    assert statuses(outbox, sync) == [(1, "sent")]
    assert fates.by_arg() == {1: "dispatched", 2: "dispatched"}


def test_a_scope_inside_the_transaction_dispatches_at_the_commit(outbox, engines, run, fates):
    _, sync = engines
    sent = Recorder()

    async def body(maker) -> None:
        async with maker() as session, session.begin():
            async with scope(sent):  # flushed before the commit: the intent waits for it
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
            assert statuses(outbox, sync) == [] and sent.args == []
        assert sent.args == [1]

    run(body)
    assert statuses(outbox, sync) == [(1, "sent")]


def test_the_relay_sends_what_a_dead_process_committed(outbox, engines, run, fates):
    _, sync = engines

    async def body(maker) -> None:
        async with scope(nothing):
            async with maker() as session, session.begin():
                await session.execute(insert(ORDERS).values(note="kept"))
                for n in (1, 2):
                    airlock.enqueue(deliver, n, _dispatch_options=DURABLE)
            # The process "dies" between the commit and the flush: the rows never hear of
            # a fate (the flush still runs here, with an executor that sends nothing).
            recorder.forget()

    run(body)
    assert statuses(outbox, sync) == [(1, "pending"), (2, "pending")]
    later = Recorder()
    assert outbox.relay(executor=later).drain() == 2
    assert later.args == [1, 2] and statuses(outbox, sync) == [(1, "sent"), (2, "sent")]
    assert notes(sync) == ["kept"]


def test_a_rollback_leaves_no_row(outbox, engines, run, fates):
    _, sync = engines
    sent = Recorder()

    async def body(maker) -> None:
        async with scope(sent):
            async with maker() as session:
                async with session.begin():
                    await session.execute(insert(ORDERS).values(note="gone"))
                    airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                    await session.rollback()
                async with session.begin():  # the same session commits something else
                    await session.execute(insert(ORDERS).values(note="kept"))

    run(body)
    assert statuses(outbox, sync) == [] and sent.args == []
    assert notes(sync) == ["kept"]
    assert fates.by_arg() == {1: "rolled_back"}


def test_savepoints_keep_exactly_the_rows_whose_intents_live(outbox, engines, run, fates):
    """Rows are written at the root COMMIT, after every savepoint ended: an intent in a
    savepoint released into one that rolls back has neither a row nor a send."""
    _, sync = engines
    sent = Recorder()

    async def body(maker) -> None:
        async with scope(sent):
            async with maker() as session, session.begin():
                airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                outer = await session.begin_nested()
                airlock.enqueue(deliver, 2, _dispatch_options=DURABLE)
                inner = await session.begin_nested()
                airlock.enqueue(deliver, 3, _dispatch_options=DURABLE)
                await inner.commit()  # released into ``outer``...
                await outer.rollback()  # ...which rolls back: 2 and 3 go with it
                kept = await session.begin_nested()
                airlock.enqueue(deliver, 4, _dispatch_options=DURABLE)
                await kept.commit()
                await session.begin_nested()  # still open at the commit: released by it
                airlock.enqueue(deliver, 5, _dispatch_options=DURABLE)

    run(body)
    assert sent.args == [1, 4, 5]
    assert statuses(outbox, sync) == [(1, "sent"), (4, "sent"), (5, "sent")]
    assert fates.by_arg() == {
        1: "dispatched",
        2: "rolled_back",
        3: "rolled_back",
        4: "dispatched",
        5: "dispatched",
    }


def test_a_discarded_scope_writes_no_row(outbox, engines, run, fates):
    _, sync = engines

    async def body(maker) -> None:
        async with maker() as session, session.begin():
            with pytest.raises(RuntimeError):
                async with scope(Recorder()):
                    airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                    raise RuntimeError("the request failed")
            await session.execute(insert(ORDERS).values(note="kept"))

    run(body)
    assert statuses(outbox, sync) == [] and notes(sync) == ["kept"]
    assert fates.by_arg() == {1: "discarded"}


def test_a_row_that_cannot_be_written_fails_the_commit(outbox, engines, run, fates):
    """A real fault: the outbox table is dropped (from another connection) before the commit.
    The insert fails, so the commit fails: neither the order nor any row, nothing sent."""
    _, sync = engines
    sent = Recorder()

    async def body(maker) -> None:
        async with scope(sent):
            async with maker() as session:
                with pytest.raises(DBAPIError):
                    async with session.begin():
                        airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                        outbox.table.drop(sync)
                        await session.execute(insert(ORDERS).values(note="lost"))

    run(body)
    assert sent.args == [] and notes(sync) == []
    assert fates.by_arg() == {1: "rolled_back"}


def test_an_ordered_intent_is_handed_to_the_relay(outbox, engines, run, fates):
    _, sync = engines

    async def body(maker) -> None:
        async with scope(Recorder()):  # in-process it sends nothing: the relay does
            async with maker() as session, session.begin():
                for n in (1, 2):
                    airlock.enqueue(deliver, n, _dispatch_options={"ordering_key": "k"})

    run(body)
    assert fates.by_arg() == {1: "dispatched", 2: "dispatched"}
    assert statuses(outbox, sync) == [(1, "pending"), (2, "pending")]
    later = Recorder()
    assert outbox.relay(executor=later).drain() == 2 and later.args == [1, 2]
    assert statuses(outbox, sync) == [(1, "sent"), (2, "sent")]


def test_without_a_sync_engine_a_durable_intent_is_refused(outbox, engines, run, fates):
    Outbox(schema=outbox.table.schema).install()  # no engine: replaces the fixture's outbox

    async def body(maker) -> None:
        async with maker() as session, session.begin():
            async with scope(Recorder()):
                with pytest.raises(UsageError, match=r"pass Outbox\(engine=\.\.\.\) a sync"):
                    airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                with pytest.raises(TypeError, match=r"argument 0 .*cannot be stored"):
                    airlock.enqueue(deliver, object(), _dispatch_options=DURABLE)
                airlock.enqueue(deliver, 2)  # the in-memory path works as usual

    run(body)
    assert fates.by_arg() == {2: "dispatched"}


def test_a_session_inside_an_outside_transaction_logs_the_row_it_could_not_write(
    outbox, engines, fates, caplog
):
    """A session joined to a connection already in a transaction (a test fixture's pattern)
    does not commit that transaction, so no COMMIT writes the row: the intent is still sent
    in-process, the missing row is logged, and an ordered intent (the relay's alone) fails."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async_engine, sync = engines
    sent = Recorder()

    async def body() -> None:
        async with async_engine.connect() as connection:
            await connection.begin()
            session = track(AsyncSession(bind=connection))
            async with scope(sent):
                async with session.begin():
                    airlock.enqueue(deliver, 1, _dispatch_options=DURABLE)
                    airlock.enqueue(deliver, 2, _dispatch_options={"ordering_key": "k"})
            await session.close()
            await connection.rollback()
        await async_engine.dispose()

    asyncio.run(body())
    assert sent.args == [1] and statuses(outbox, sync) == []
    assert fates.by_arg() == {1: "dispatched", 2: "failed"}
    assert "committed without the outbox writing its row" in caplog.text


def test_a_session_bound_to_one_connection_writes_each_transaction_once(outbox, engines, fates):
    """The connection's commit hook is set once and serves each transaction committed on it."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async_engine, sync = engines
    sent = Recorder()

    async def body() -> None:
        async with async_engine.connect() as connection:
            session = track(AsyncSession(bind=connection))
            for n in (1, 2):
                async with scope(sent):
                    async with session.begin():
                        airlock.enqueue(deliver, n, _dispatch_options=DURABLE)
            async with session.begin():  # a transaction without durable intents
                await session.execute(insert(ORDERS).values(note="plain"))
            await session.close()
        await async_engine.dispose()

    asyncio.run(body())
    assert sent.args == [1, 2]
    assert statuses(outbox, sync) == [(1, "sent"), (2, "sent")] and notes(sync) == ["plain"]


def test_an_async_engine_is_refused_where_a_sync_one_is_needed(outbox, engines):
    async_engine, _ = engines
    for wrong in (async_engine, async_engine.sync_engine):
        with pytest.raises(TypeError, match=r"create a sync engine on the same database"):
            Outbox(engine=wrong)
    with pytest.raises(UsageError, match=r"needs a sync sqlalchemy Engine"):
        outbox.relay(async_engine.sync_engine)
