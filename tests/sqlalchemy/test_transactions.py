"""SQLAlchemyScope with sync sessions, on SQLite and PostgreSQL: every transaction rule.

The executor records what it is handed and how many orders another connection saw committed
at that moment, so "dispatched after the commit" is checked against the database itself. The
autouse ``fates`` fixture checks that every intent ended with exactly one fate.
"""

from __future__ import annotations

import logging
import threading

import pytest

from tests.services import require_module

require_module("sqlalchemy", "sqlalchemy")

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.orm import Session, scoped_session, sessionmaker  # noqa: E402

import airlock  # noqa: E402
from airlock.exceptions import UsageError  # noqa: E402
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track  # noqa: E402
from tests.sqlalchemy.conftest import make_engine, metadata  # noqa: E402

ORDERS = metadata().tables["orders"]


class Boom(Exception):
    pass


def task(note: str) -> None:
    """The task enqueued everywhere (never run: the executors below only record)."""


class Sent:
    """An executor: records each intent's argument and the orders committed when it came."""

    def __init__(self, engine, fail_on: str | None = None, error: BaseException | None = None):
        self.engine = engine
        self.calls: list[tuple[str, int]] = []
        self.fail_on = fail_on
        self.error = error or Boom(f"executor refused {fail_on}")

    def __call__(self, intent) -> None:
        with self.engine.connect() as connection:
            committed = connection.execute(select(func.count()).select_from(ORDERS)).scalar_one()
        if intent.args[0] == self.fail_on:
            raise self.error
        self.calls.append((intent.args[0], committed))

    @property
    def args(self) -> list[str]:
        return [arg for arg, _ in self.calls]


def notes(engine) -> set[str]:
    with engine.connect() as connection:
        return set(connection.execute(select(ORDERS.c.note)).scalars())


def add(session: Session, note: str) -> None:
    """Write an order and enqueue the task for it."""
    session.execute(insert(ORDERS).values(note=note))
    airlock.enqueue(task, note)


def scope(executor, **kwargs):
    return airlock.scope(_cls=SQLAlchemyScope, executor=executor, **kwargs)


@pytest.fixture
def engine(db_kind, tmp_path):
    engine = make_engine(db_kind, tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture
def other_engine(db_kind, tmp_path):
    engine = make_engine(db_kind, tmp_path, "other")
    yield engine
    engine.dispose()


@pytest.fixture
def maker(engine):
    return track(sessionmaker(engine))


@pytest.fixture
def sent(engine):
    return Sent(engine)


# -- commit ---------------------------------------------------------------------------------------
def test_flushed_intent_waits_for_the_commit(maker, sent, fates):
    with maker() as session:
        with session.begin():
            with scope(sent):
                add(session, "a")
                add(session, "b")
            assert sent.calls == []  # the scope flushed, the transaction is still open
        assert sent.calls == [("a", 2), ("b", 2)]  # in enqueue order, after the commit
    assert fates.by_arg() == {"a": "dispatched", "b": "dispatched"}


def test_intent_committed_before_the_flush_dispatches_at_flush(maker, sent, fates):
    with scope(sent):
        with maker() as session, session.begin():
            add(session, "a")
        assert sent.calls == []  # committed, but the scope has not decided yet
    assert sent.calls == [("a", 1)]


def test_autobegun_transaction_holds_intents_until_commit(maker, sent, fates):
    with maker() as session:
        with scope(sent):
            add(session, "a")  # the execute began the session's transaction
        assert sent.calls == []
        session.commit()
        assert sent.calls == [("a", 1)]


def test_outside_any_transaction_the_flush_dispatches_at_once(maker, sent, fates):
    with maker() as session:
        with scope(sent):
            airlock.enqueue(task, "a")  # the session has not begun
        assert sent.args == ["a"]
        session.rollback()
    assert fates.by_arg() == {"a": "dispatched"}


def test_an_untracked_session_does_not_hold_intents(engine, sent, fates):
    with sessionmaker(engine)() as session:
        with scope(sent):
            add(session, "a")
        assert sent.calls == [("a", 0)]  # documented: only tracked sessions hold intents
        session.rollback()


# -- rollback -------------------------------------------------------------------------------------
def test_rollback_before_the_flush_drops_the_intent(maker, sent, fates, engine):
    with scope(sent) as s:
        with maker() as session:
            add(session, "kept-out")
            session.rollback()
            assert s.intents == []  # it left the buffer at the rollback
            add(session, "a")
            session.commit()
    assert sent.calls == [("a", 1)]
    assert notes(engine) == {"a"}
    assert fates.by_arg() == {"kept-out": "rolled_back", "a": "dispatched"}
    (detail,) = [d for fate, _, d in fates.events if fate == "rolled_back"]
    assert isinstance(detail, Session)  # the session that rolled back


def test_rollback_after_the_flush_drops_the_released_intent(maker, sent, fates, engine):
    with maker() as session:
        with pytest.raises(Boom), session.begin():
            with scope(sent):
                add(session, "a")
            raise Boom
    assert sent.calls == []
    assert notes(engine) == set()
    assert fates.by_arg() == {"a": "rolled_back"}


def test_closing_a_session_in_a_transaction_rolls_its_intents_back(maker, sent, fates):
    session = maker()
    with scope(sent):
        add(session, "a")
    session.close()
    assert sent.calls == []
    assert fates.by_arg() == {"a": "rolled_back"}


def test_a_failing_statement_in_begin_rolls_the_intents_back(maker, sent, fates):
    from sqlalchemy.exc import IntegrityError

    with maker() as session:
        with scope(sent):
            session.execute(insert(ORDERS).values(id=1, note="first"))
            session.commit()
            with pytest.raises(IntegrityError), session.begin():
                airlock.enqueue(task, "duplicate")
                session.execute(insert(ORDERS).values(id=1, note="again"))
    assert sent.calls == []
    assert fates.by_arg() == {"duplicate": "rolled_back"}


def test_a_commit_refused_by_the_database_rolls_the_intents_back(
    maker, engine, sent, fates, db_kind
):
    """PostgreSQL checks a deferred constraint at COMMIT: ``after_commit`` never fires, and the
    rollback that follows the failed commit settles the intents ``rolled_back``."""
    from sqlalchemy import Column, Integer, MetaData, Table, UniqueConstraint
    from sqlalchemy.exc import IntegrityError

    if db_kind != "postgres":
        pytest.skip("a deferred constraint checked at COMMIT: PostgreSQL")
    once = Table(
        "once",
        MetaData(),
        Column("n", Integer),
        UniqueConstraint("n", deferrable=True, initially="DEFERRED"),
    )
    once.metadata.create_all(engine)  # in the test's schema (the engine's schema_translate_map)
    with maker() as session:
        with scope(sent):
            session.execute(insert(once), [{"n": 1}, {"n": 1}])  # accepted until COMMIT
            add(session, "refused")
            with pytest.raises(IntegrityError):
                session.commit()
            session.rollback()
            add(session, "next")
            session.commit()
    assert sent.args == ["next"]
    assert fates.by_arg() == {"refused": "rolled_back", "next": "dispatched"}


def test_a_key_rolled_back_may_be_enqueued_again(maker, sent, fates):
    with scope(sent) as s:
        with maker() as session:
            session.execute(select(1))
            airlock.enqueue(task, "first", _key="order-1")
            airlock.enqueue(task, "second", _key="order-1")  # duplicate: dropped
            session.rollback()
            airlock.enqueue(task, "retry", _key="order-1")  # no transaction: waits for nothing
        assert [i.args[0] for i in s.intents] == ["retry"]
    assert fates.by_arg() == {"first": "rolled_back", "second": "dropped", "retry": "dispatched"}


# -- savepoints -----------------------------------------------------------------------------------
def test_savepoint_rollback_drops_its_intents_while_the_outer_transaction_commits(
    maker, sent, fates, engine
):
    with maker() as session:
        with session.begin():
            with scope(sent):
                add(session, "outer")
                with pytest.raises(Boom), session.begin_nested():
                    add(session, "inner")
                    raise Boom
                with session.begin_nested():
                    add(session, "released")
                add(session, "after")
            assert sent.calls == []
    assert sent.calls == [("outer", 3), ("released", 3), ("after", 3)]
    assert notes(engine) == {"outer", "released", "after"}
    assert fates.by_arg()["inner"] == "rolled_back"


@pytest.mark.parametrize("fates", [False], indirect=True, ids=["unobserved"])
def test_the_direct_path_ties_each_intent_to_its_savepoint(maker, sent, fates, engine):
    # Nobody listens here: after its first intent the scope takes them on its direct path
    # (Tied), which must tie each to the savepoint it was enqueued in, as the general path does.
    with maker() as session:
        with session.begin():
            with scope(sent) as s:
                add(session, "outer")
                assert type(s._direct).__name__ == "Tied"  # the path under test is taken
                with pytest.raises(Boom), session.begin_nested():
                    add(session, "inner")
                    add(session, "inner-2")
                    raise Boom
                with session.begin_nested():
                    add(session, "released")
                add(session, "after")
            assert sent.calls == []
        with pytest.raises(Boom), session.begin():
            with scope(sent):
                add(session, "first")
                add(session, "rolled back with its transaction")
            raise Boom
    assert sent.calls == [("outer", 3), ("released", 3), ("after", 3)]
    assert notes(engine) == {"outer", "released", "after"}


class Audited(SQLAlchemyScope):
    """A subclass with an on_buffered of its own: it must see every intent."""

    def on_buffered(self, intent):
        self.seen = [*getattr(self, "seen", []), intent.args[0]]
        super().on_buffered(intent)


@pytest.mark.parametrize("fates", [False], indirect=True, ids=["unobserved"])
def test_a_subclass_hook_sees_every_intent(maker, sent, fates, engine):
    with maker() as session, session.begin():
        with airlock.scope(_cls=Audited, executor=sent) as s:
            add(session, "a")
            with pytest.raises(Boom), session.begin_nested():
                add(session, "b")
                raise Boom
            add(session, "c")
    assert s.seen == ["a", "b", "c"] and sent.args == ["a", "c"]


def test_savepoint_rolled_back_after_the_flush(maker, sent, fates, engine):
    with maker() as session, session.begin():
        savepoint = session.begin_nested()
        with scope(sent):
            add(session, "inner")
            add(session, "inner-2")
        savepoint.rollback()
        with scope(sent):
            add(session, "outer")
    assert sent.calls == [("outer", 1)]
    assert fates.by_arg() == {"inner": "rolled_back", "inner-2": "rolled_back",
                              "outer": "dispatched"}  # fmt: skip


def test_a_released_savepoint_rolls_back_with_its_transaction(maker, sent, fates, engine):
    with maker() as session:
        with scope(sent):
            with session.begin():
                with session.begin_nested():
                    add(session, "released")
            # committed: now a second transaction
            with pytest.raises(Boom), session.begin():
                with session.begin_nested():
                    with session.begin_nested():
                        add(session, "deep")
                raise Boom
    assert sent.calls == [("released", 1)]
    assert fates.by_arg() == {"released": "dispatched", "deep": "rolled_back"}


def test_inner_savepoint_rollback_inside_a_released_one(maker, sent, fates, engine):
    with maker() as session, session.begin():
        with scope(sent):
            with session.begin_nested():
                add(session, "middle")
                with pytest.raises(Boom), session.begin_nested():
                    add(session, "innermost")
                    raise Boom
    assert sent.calls == [("middle", 1)]
    assert fates.by_arg() == {"middle": "dispatched", "innermost": "rolled_back"}


# -- several sessions -----------------------------------------------------------------------------
def test_an_intent_waits_for_every_session_in_a_transaction(maker, other_engine, sent, fates):
    other = track(sessionmaker(other_engine))
    with maker() as a, other() as b:
        with scope(sent):
            a.execute(select(1))
            b.execute(select(1))
            airlock.enqueue(task, "both")
        a.commit()
        assert sent.calls == []  # b has not committed yet
        b.commit()
        assert sent.args == ["both"]


def test_one_session_commits_the_other_rolls_back(maker, other_engine, sent, fates):
    other = track(sessionmaker(other_engine))
    with scope(sent):
        with maker() as a, other() as b:
            add(a, "a-only")  # only a is in a transaction
            b.execute(insert(ORDERS).values(note="b"))
            airlock.enqueue(task, "both")
            a.commit()
            airlock.enqueue(task, "b-only")
            b.rollback()
    assert sent.args == ["a-only"]
    assert notes(other_engine) == set()
    assert fates.by_arg() == {"a-only": "dispatched", "both": "rolled_back",
                              "b-only": "rolled_back"}  # fmt: skip


def test_using_names_the_sessions_an_intent_waits_for(maker, other_engine, sent, fates):
    other = track(sessionmaker(other_engine))
    with maker() as a, other() as b:
        a.execute(select(1))
        b.execute(select(1))
        with scope(sent, using=a):
            airlock.enqueue(task, "a")
        with scope(sent, using=[b]):
            airlock.enqueue(task, "b")
        b.rollback()
        a.commit()
    assert sent.args == ["a"]
    assert fates.by_arg() == {"a": "dispatched", "b": "rolled_back"}


def test_using_tracks_a_session_of_an_untracked_maker(engine, sent, fates):
    with sessionmaker(engine)() as session:
        session.execute(select(1))
        with scope(sent, using=session):
            airlock.enqueue(task, "a")
        session.rollback()
    assert fates.by_arg() == {"a": "rolled_back"}


def test_using_refuses_what_is_not_a_session(engine):
    with pytest.raises(UsageError, match="not a Session"):
        SQLAlchemyScope(using=engine)
    with pytest.raises(UsageError, match="at least one"):
        SQLAlchemyScope(using=[])


def test_a_session_of_another_thread_does_not_hold_intents(maker, sent, fates):
    began, release = threading.Event(), threading.Event()

    def other_thread():
        with maker() as session:
            session.execute(select(1))
            began.set()
            release.wait(30)
            session.rollback()

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert began.wait(30)
        with scope(sent):
            airlock.enqueue(task, "here")
        assert sent.args == ["here"]
    finally:
        release.set()
        thread.join(30)


# -- nesting --------------------------------------------------------------------------------------
def test_a_captured_intent_keeps_its_transaction(maker, sent, fates):
    with scope(sent) as outer:
        with maker() as session:
            with pytest.raises(Boom), session.begin():
                with airlock.scope(_cls=SQLAlchemyScope):
                    add(session, "inner")
                assert [i.args[0] for i in outer.intents] == ["inner"]  # captured
                raise Boom
            assert outer.intents == []
            with session.begin():
                with airlock.scope(_cls=SQLAlchemyScope, using=session):
                    add(session, "committed")
            airlock.enqueue(task, "untied")
    assert sent.args == ["committed", "untied"]
    assert fates.by_arg()["inner"] == "rolled_back"


# -- failures, policies, discards -----------------------------------------------------------------
def test_a_failing_intent_is_isolated_at_commit(maker, engine, fates, caplog):
    sent = Sent(engine, fail_on="bad")
    with maker() as session:
        with session.begin():
            with scope(sent):
                add(session, "a")
                add(session, "bad")
                add(session, "c")
        # the commit returned normally
    assert sent.args == ["a", "c"]
    assert fates.by_arg() == {"a": "dispatched", "bad": "failed", "c": "dispatched"}
    assert any("bad" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


def test_a_failing_intent_is_isolated_at_flush(maker, engine, fates, caplog):
    sent = Sent(engine, fail_on="bad")
    with scope(sent) as s:
        with maker() as session, session.begin():
            add(session, "bad")
            add(session, "b")
    assert sent.args == ["b"]
    assert [i.args[0] for i, _ in s.failed] == ["bad"]
    assert fates.by_arg() == {"bad": "failed", "b": "dispatched"}


def test_an_interrupt_at_commit_still_gives_every_intent_a_fate(maker, engine, fates):
    sent = Sent(engine, fail_on="stop", error=KeyboardInterrupt())
    with maker() as session:
        session.execute(select(1))
        with scope(sent):
            airlock.enqueue(task, "stop")
            airlock.enqueue(task, "same-batch")
        with scope(sent):
            airlock.enqueue(task, "other-scope")
        with pytest.raises(KeyboardInterrupt):
            session.commit()
    assert sent.calls == []
    assert set(fates.by_arg().values()) == {"failed"}


def test_a_policy_drop_is_final(maker, sent, fates):
    with maker() as session, session.begin():
        with scope(sent, policy=airlock.DropAll()):
            add(session, "a")
    assert sent.calls == []
    assert fates.by_arg() == {"a": "dropped"}


def test_a_discarded_scope_sends_nothing_at_commit(maker, sent, fates):
    with maker() as session, session.begin():
        with pytest.raises(Boom), scope(sent):
            add(session, "a")
            raise Boom
    assert sent.calls == []
    assert fates.by_arg() == {"a": "discarded"}


# -- track ----------------------------------------------------------------------------------------
def test_track_accepts_sessions_classes_and_scoped_sessions(engine, sent, fates):
    class OwnSession(Session):
        pass

    registry = scoped_session(sessionmaker(engine))
    targets = [track(OwnSession), track(registry)]
    try:
        for make in (lambda: OwnSession(engine), registry):
            session = make()
            with scope(sent):
                airlock.enqueue(task, type(session).__name__)
                session.execute(select(1))
                airlock.enqueue(task, "tied")
            session.rollback()
            session.close()
        single = Session(engine)
        assert track(single) is single
        assert track(single) is single  # again: still one set of listeners
        with scope(sent):
            single.execute(select(1))
            airlock.enqueue(task, "single")
        single.rollback()
        single.close()
    finally:
        registry.remove()
        del targets
    assert sent.args == ["OwnSession", "Session"]
    assert [fate for fate, i, _ in fates.events if i.args[0] in ("tied", "single")] == [
        "rolled_back", "rolled_back", "rolled_back"
    ]  # fmt: skip


def test_track_refuses_other_objects(engine):
    with pytest.raises(UsageError, match="expected a sessionmaker"):
        track(engine)


def test_inside_a_plain_scope_what_waits_for_a_session_stays_with_it(maker, sent, fates):
    with maker() as session:
        with airlock.scope(executor=sent):  # a plain Scope: it knows nothing of sessions
            session.execute(select(1))
            with airlock.scope(_cls=SQLAlchemyScope, executor=sent):
                airlock.enqueue(task, "tied")
        assert sent.args == []  # the plain scope did not take it: it waits for the session
        session.rollback()
    assert fates.by_arg() == {"tied": "rolled_back"}


def test_a_transaction_ended_in_another_context_does_not_hide_the_next_one(maker, sent, fates):
    import contextvars

    with maker() as session:
        session.execute(select(1))  # began here...
        contextvars.copy_context().run(session.rollback)  # ...ended where this context cannot see
        with scope(sent):
            session.execute(select(1))  # the next transaction, begun here again
            airlock.enqueue(task, "a")
        assert sent.calls == []
        session.rollback()
    assert fates.by_arg() == {"a": "rolled_back"}


def test_the_configured_scope_is_built_without_init(monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLAlchemyScope's __init__ only records `using=`: airlock.scope() skips it (bare_init),
    # so a scope per request is one object.
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("airlock.scope() called SQLAlchemyScope.__init__")

    airlock.configure(scope_cls=SQLAlchemyScope)
    try:
        airlock.scope()  # works out the plain path once
        monkeypatch.setattr(SQLAlchemyScope, "__init__", refuse)
        with airlock.scope() as scope:
            assert type(scope) is SQLAlchemyScope
    finally:
        airlock.reset_configuration()
