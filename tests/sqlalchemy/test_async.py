"""SQLAlchemyScope with AsyncSession: aiosqlite, asyncpg and psycopg, the same transaction rules.

An ``AsyncSession`` runs its sync session in the calling task's context, so the session events
tie and release intents exactly as for sync sessions; concurrent tasks keep their own sessions.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.services import require_module

require_module("sqlalchemy", "sqlalchemy")
require_module("greenlet", "dev")
require_module("aiosqlite", "dev")
require_module("asyncpg", "dev")

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker  # noqa: E402

import airlock  # noqa: E402
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track  # noqa: E402
from tests.sqlalchemy.conftest import make_engine, metadata  # noqa: E402

ORDERS = metadata().tables["orders"]


class Boom(Exception):
    pass


def task(note: str) -> None:
    """The task enqueued (never run: the executor only records)."""


class Sent:
    """An executor: records each intent's argument; refuses ``fail_on``."""

    def __init__(self, fail_on: str | None = None):
        self.args: list[str] = []
        self.fail_on = fail_on

    def __call__(self, intent) -> None:
        if intent.args[0] == self.fail_on:
            raise Boom(intent.args[0])
        self.args.append(intent.args[0])

    def __eq__(self, other):
        return self.args == other


async def add(session: AsyncSession, note: str) -> None:
    await session.execute(insert(ORDERS).values(note=note))
    airlock.enqueue(task, note)


async def notes(engine) -> set[str]:
    async with engine.connect() as connection:
        return set((await connection.execute(select(ORDERS.c.note))).scalars())


def scope(executor, **kwargs):
    return airlock.scope(_cls=SQLAlchemyScope, executor=executor, **kwargs)


@pytest.fixture(params=["aiosqlite", "asyncpg", "psycopg_async"])
async def engine(request, tmp_path):
    kind = "sqlite" if request.param == "aiosqlite" else "postgres"
    if kind == "postgres":
        request.getfixturevalue("pg_schema")
    engine = make_engine(kind, tmp_path, asynchronous=True, driver=request.param)
    yield engine
    await engine.dispose()


@pytest.fixture
def maker(engine):
    return track(async_sessionmaker(engine))


async def test_commit_releases_the_intents(maker, engine, fates):
    sent = Sent()
    async with maker() as session:
        async with session.begin():
            async with scope(sent):
                await add(session, "a")
            assert sent == []
        assert sent == ["a"]
    assert await notes(engine) == {"a"}


async def test_rollback_drops_the_intents(maker, engine, fates):
    sent = Sent()
    async with scope(sent) as s:
        async with maker() as session:
            await add(session, "a")
            await session.rollback()
            assert s.intents == []
            with pytest.raises(Boom):
                async with session.begin():
                    await add(session, "b")
                    raise Boom
    assert sent == []
    assert fates.by_arg() == {"a": "rolled_back", "b": "rolled_back"}


async def test_savepoint_rollback_with_outer_commit(maker, engine, fates):
    sent = Sent()
    async with maker() as session:
        async with session.begin():
            async with scope(sent):
                await add(session, "outer")
                with pytest.raises(Boom):
                    async with session.begin_nested():
                        await add(session, "inner")
                        raise Boom
                async with session.begin_nested():
                    await add(session, "released")
    assert sent == ["outer", "released"]
    assert await notes(engine) == {"outer", "released"}
    assert fates.by_arg()["inner"] == "rolled_back"


async def test_using_an_async_session(engine, fates):
    sent = Sent()
    async with AsyncSession(engine) as session:  # not tracked: using= tracks it
        await session.execute(select(1))
        async with scope(sent, using=session):
            airlock.enqueue(task, "a")
        assert sent == []
        await session.commit()
    assert sent == ["a"]


async def test_two_sessions_on_two_engines_each_hold_the_intent(maker, engine, tmp_path, fates):
    """An intent waits for every tracked AsyncSession in a transaction (one rolling back drops
    it); a nested scope with ``using=`` waits for the one it names."""
    kind = "sqlite" if engine.dialect.name == "sqlite" else "postgres"
    driver = engine.dialect.driver if kind == "postgres" else "asyncpg"
    other = make_engine(kind, tmp_path, "other", asynchronous=True, driver=driver)
    try:
        other_maker = track(async_sessionmaker(other))
        sent = Sent()
        async with scope(sent):
            async with maker() as orders_db, other_maker() as audit_db:
                await add(orders_db, "orders")  # autobegins orders_db only: waits for it
                await audit_db.execute(insert(ORDERS).values(note="audit"))
                airlock.enqueue(task, "both")
                async with scope(sent, using=audit_db):
                    airlock.enqueue(task, "only audit_db")
                await orders_db.rollback()
                await audit_db.commit()
        assert sent == ["only audit_db"]
        assert fates.by_arg() == {
            "orders": "rolled_back", "both": "rolled_back", "only audit_db": "dispatched"
        }  # fmt: skip
        assert await notes(other) == {"audit"} and await notes(engine) == set()
    finally:
        await other.dispose()


async def test_concurrent_tasks_keep_their_own_sessions(maker, fates):
    sent = Sent()
    both_enqueued = asyncio.Barrier(2) if hasattr(asyncio, "Barrier") else None
    first_done = asyncio.Event()

    async def request(note: str, commit: bool) -> None:
        async with scope(sent):
            async with maker() as session:
                if commit:
                    await add(session, note)
                else:  # a transaction without SQL yet: on SQLite a reader would block the commit
                    await session.begin()
                    airlock.enqueue(task, note)
                if both_enqueued is not None:
                    await both_enqueued.wait()
                if commit:
                    await session.commit()
                    first_done.set()
                else:
                    await first_done.wait()
                    await session.rollback()

    await asyncio.wait_for(
        asyncio.gather(request("commits", True), request("rolls-back", False)), 30
    )
    assert sent == ["commits"]
    assert fates.by_arg() == {"commits": "dispatched", "rolls-back": "rolled_back"}


async def test_a_failing_intent_is_isolated(maker, fates, caplog):
    sent = Sent(fail_on="bad")
    async with maker() as session:
        async with session.begin():
            async with scope(sent):
                await add(session, "bad")
                await add(session, "b")
    assert sent == ["b"]
    assert fates.by_arg() == {"bad": "failed", "b": "dispatched"}
    assert any("bad" in r.getMessage() for r in caplog.records)


async def test_track_an_async_session_and_its_class(engine, fates):
    sent = Sent()
    session = track(AsyncSession(engine))
    async with session:
        await session.execute(select(1))
        async with scope(sent):
            airlock.enqueue(task, "instance")
        await session.rollback()
    maker = async_sessionmaker(engine)
    assert track(maker) is maker and track(maker) is maker  # once: the same sync class
    async with maker() as session:
        await session.execute(select(1))
        async with scope(sent):
            airlock.enqueue(task, "maker")
        await session.rollback()
    assert sent == []
    assert fates.by_arg() == {"instance": "rolled_back", "maker": "rolled_back"}
