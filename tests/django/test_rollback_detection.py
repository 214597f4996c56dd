"""A rollback gives its intents ``rolled_back`` the moment Django rolls back, without the GC.

The garbage collector is off, the test holds a reference to every ``on_commit`` callback
(airlock's ``CommitHook``s among them), and the exception that caused the rollback is kept
with its traceback (its frames alive): none of that delays or loses the fate. Each intent is
reported once. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import gc

import pytest
from django.db import connection, connections, transaction

import airlock
from airlock.integrations.django import DjangoScope
from airlock.integrations.django._transactions import CommitHook
from tests.django.models import Note
from tests.django.tasks import Recorder, record

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


@pytest.fixture(autouse=True)
def no_gc():
    """No garbage collection during the test: a fate that waited for it would never come."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


@pytest.fixture
def ex():
    return Recorder()


@pytest.fixture
def fates():
    """Every terminal fate reported, as (fate, label), in order."""
    seen: list[tuple[str, str]] = []

    def listener(event, intent, scope, detail):
        if event not in ("enqueued", "captured"):
            seen.append((event, intent.args[0]))

    unsubscribe = airlock._events.subscribe(listener)
    yield seen
    unsubscribe()


@pytest.fixture
def held():
    """What the test keeps alive: on_commit callbacks and caught exceptions (tracebacks)."""
    return []


def hold_callbacks(held, alias="default"):
    callbacks = [entry[1] for entry in connections[alias].run_on_commit]
    assert any(type(c) is CommitHook for c in callbacks)
    held.extend(callbacks)


def scope(ex):
    return airlock.scope(executor=ex, _cls=DjangoScope)


def test_a_savepoint_rollback_is_detected_at_once_and_reported_once(ex, fates, held):
    with scope(ex) as s, transaction.atomic():
        airlock.enqueue(record, "outer")
        try:
            with transaction.atomic():
                Note.objects.create(text="inner")
                airlock.enqueue(record, "inner")
                hold_callbacks(held)
                raise ValueError("roll the savepoint back")
        except ValueError as exc:
            held.append(exc)  # its traceback keeps the frames alive
            assert exc.__traceback__ is not None
            assert fates == [("rolled_back", "inner")]  # at once: the scope is still open
        assert s.is_active
        airlock.enqueue(record, "after")
    assert ex.sent == ["outer", "after"]
    assert fates == [("rolled_back", "inner"), ("dispatched", "outer"), ("dispatched", "after")]
    assert Note.objects.count() == 0


def test_an_outer_rollback_is_detected_at_once_and_reported_once(ex, fates, held):
    with scope(ex) as s:
        try:
            with transaction.atomic():
                Note.objects.create(text="rolled back")
                airlock.enqueue(record, "a")
                airlock.enqueue(record, "b")
                hold_callbacks(held)
                raise ValueError("roll the transaction back")
        except ValueError as exc:
            held.append(exc)
            assert fates == [("rolled_back", "a"), ("rolled_back", "b")]
        assert s.is_active and s.intents == []  # nothing left to decide
        airlock.enqueue(record, "c")
    assert ex.sent == ["c"]
    assert fates == [("rolled_back", "a"), ("rolled_back", "b"), ("dispatched", "c")]


def test_a_rollback_after_the_scope_flushed_is_detected_at_once(ex, fates, held):
    try:
        with transaction.atomic():
            with scope(ex) as s:
                airlock.enqueue(record, "released")
            assert s.is_flushed and fates == []  # released, waiting for the commit
            hold_callbacks(held)
            raise ValueError("roll the transaction back")
    except ValueError as exc:
        held.append(exc)
        assert fates == [("rolled_back", "released")]
    assert ex.sent == []
    assert fates == [("rolled_back", "released")]


def test_a_manual_savepoint_rollback_keeps_intents_as_django_keeps_on_commit_callbacks(
    ex, fates
):
    # Django drops on_commit callbacks only for atomic()'s savepoints (savepoint() does not
    # record its id in savepoint_ids): an intent is exactly as safe as a raw on_commit.
    plain: list[str] = []
    with scope(ex), transaction.atomic():
        sid = transaction.savepoint()
        airlock.enqueue(record, "a")
        transaction.on_commit(lambda: plain.append("ran"))
        transaction.savepoint_rollback(sid)
        assert fates == []
    assert plain == ["ran"] and ex.sent == ["a"]
    assert fates == [("dispatched", "a")]


def test_set_rollback_is_detected_when_the_block_ends(ex, fates, held):
    with scope(ex) as s:
        with transaction.atomic():
            airlock.enqueue(record, "a")
            hold_callbacks(held)
            transaction.set_rollback(True)
        assert fates == [("rolled_back", "a")] and s.is_active
    assert ex.sent == []


def test_a_rollback_on_another_alias_is_detected_at_once_and_names_it(ex, held):
    seen: list[tuple[str, object]] = []
    unsubscribe = airlock._events.subscribe(
        lambda event, intent, scope, detail: seen.append((event, detail))
        if event == "rolled_back" else None
    )
    try:
        with scope(ex):
            try:
                with transaction.atomic(using="other"):
                    airlock.enqueue(record, "a")
                    hold_callbacks(held, "other")
                    raise ValueError("roll back on other")
            except ValueError as exc:
                held.append(exc)
                assert seen == [("rolled_back", "other")]
    finally:
        unsubscribe()
    assert ex.sent == []


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="closing an in-memory SQLite database is a no-op"
)
def test_a_connection_closed_inside_a_transaction_rolls_its_intents_back_at_once(ex, fates, held):
    with scope(ex):
        with transaction.atomic():
            airlock.enqueue(record, "a")
            hold_callbacks(held)
            connection.close()  # the transaction is gone with the connection
            assert fates == [("rolled_back", "a")]
    assert ex.sent == []
    assert fates == [("rolled_back", "a")]


@pytest.mark.django_db(databases=["default", "other"])  # inside Django's TestCase transaction
def test_a_savepoint_rollback_inside_a_test_case_is_detected_at_once(ex, fates, held):
    assert connection.atomic_blocks and connection.atomic_blocks[0]._from_testcase
    with scope(ex):
        try:
            with transaction.atomic():
                airlock.enqueue(record, "a")
                hold_callbacks(held)
                raise ValueError("roll the savepoint back")
        except ValueError as exc:
            held.append(exc)
            assert fates == [("rolled_back", "a")]
    assert ex.sent == [] and fates == [("rolled_back", "a")]


def test_rollbacks_are_still_detected_after_a_test_monkeypatched_the_connections_methods(
    ex, fates, held
):
    # pytest's monkeypatch, given Django's `connection` proxy, deletes the instance attribute
    # on undo: airlock's wrapper goes with it. The next enqueue must watch the connection again.
    with scope(ex), transaction.atomic():
        airlock.enqueue(record, "watched")  # the connection is watched from here on
    with pytest.MonkeyPatch.context() as patch:
        for name in ("rollback", "savepoint_rollback"):
            patch.setattr(connection, name, getattr(connection, name))
    assert "rollback" not in connections["default"].__dict__  # the wrapper is gone
    with scope(ex) as s:
        try:
            with transaction.atomic():
                airlock.enqueue(record, "a")
                hold_callbacks(held)
                raise ValueError("roll the transaction back")
        except ValueError:
            assert fates[-1] == ("rolled_back", "a") and s.is_active


def test_an_intent_whose_hook_django_skipped_fails_at_the_next_transaction(ex, fates):
    # Django runs no on_commit callback after one that raised: the data committed, but
    # airlock's hook never ran. Its intent must not stay pending: the next time airlock
    # registers a hook on that connection, it fails, naming the cause.
    def broken() -> None:
        raise ValueError("someone else's callback")

    with pytest.raises(ValueError, match="someone else's callback"):
        with transaction.atomic():
            transaction.on_commit(broken)  # registered first, not robust
            with airlock.scope(executor=ex, _cls=DjangoScope):
                airlock.enqueue(record, "skipped")
            assert fates == []  # flushed, waiting for the commit
    assert fates == [] and ex.sent == []
    with airlock.scope(executor=ex, _cls=DjangoScope), transaction.atomic():
        airlock.enqueue(record, "next")
    assert fates == [("failed", "skipped"), ("dispatched", "next")]
    assert ex.sent == ["next"]
