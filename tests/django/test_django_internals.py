"""The Django internals airlock reads to track transactions, each pinned here.

``airlock/integrations/django/_transactions.py`` (and ``DjangoScope._tie``) rely on exactly
these; a Django release that changes one fails here first, naming it. Plain Django only: these
tests enqueue nothing. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django.test
import pytest
from django.db import connection, connections, transaction

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


def callback() -> None:
    """An on_commit callback (never run by these tests unless a commit happens)."""


def callbacks() -> list[Callable[[], None]]:
    return [entry[1] for entry in connection.run_on_commit]


class Spy:
    """Wraps a connection method on the instance, as airlock's ``watch`` does, and records the
    on_commit callbacks Django holds before and after each call."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        real = connections["default"]  # not the proxy: undo must restore what was there
        self.method = getattr(real, name)
        self.calls: list[tuple[list[Any], list[Any]]] = []
        monkeypatch.setattr(real, name, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        before = callbacks()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.calls.append((before, callbacks()))


# -- run_on_commit and savepoint_ids ---------------------------------------------------------
def test_run_on_commit_entries_are_savepoint_ids_callback_and_robust():
    with transaction.atomic():
        transaction.on_commit(callback)
        with transaction.atomic():
            transaction.on_commit(callback, robust=True)
            savepoint = connection.savepoint_ids[-1]
            outer, inner = connection.run_on_commit
    assert len(outer) == len(inner) == 3
    outer_sids, outer_callback, outer_robust = outer
    inner_sids, inner_callback, inner_robust = inner
    assert outer_callback is callback and inner_callback is callback
    assert (outer_robust, inner_robust) == (False, True)
    assert set(outer_sids) == set() and savepoint in inner_sids


def test_savepoint_ids_lists_the_open_atomic_savepoints_innermost_last():
    assert connection.savepoint_ids == [] and not connection.in_atomic_block
    with transaction.atomic():
        assert connection.in_atomic_block and connection.savepoint_ids == []
        with transaction.atomic():
            (first,) = connection.savepoint_ids
            with transaction.atomic():
                assert connection.savepoint_ids[0] == first and len(connection.savepoint_ids) == 2
            assert connection.savepoint_ids == [first]
        assert connection.savepoint_ids == []


def test_a_commit_calls_each_callback_once_without_arguments_in_order():
    ran: list[str] = []
    with transaction.atomic():
        transaction.on_commit(lambda: ran.append("first"))
        with transaction.atomic():
            transaction.on_commit(lambda: ran.append("second"))
        assert ran == []
    assert ran == ["first", "second"] and connection.run_on_commit == []


def test_a_commit_hook_raising_an_interrupt_stops_the_rest_which_are_then_gone():
    # airlock's CommitHook fails the intents of its later hooks then (Watch.lose).
    ran: list[str] = []

    def interrupt() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with transaction.atomic():
            transaction.on_commit(interrupt)
            transaction.on_commit(lambda: ran.append("later"))
    assert ran == [] and connection.run_on_commit == []


# -- what a rollback does to the callbacks ---------------------------------------------------
def test_atomic_rolls_a_savepoint_back_through_the_instances_savepoint_rollback(monkeypatch):
    spy = Spy(monkeypatch, "savepoint_rollback")
    with transaction.atomic():
        transaction.on_commit(callback)
        outer = connection.run_on_commit[0]
        try:
            with transaction.atomic():
                transaction.on_commit(print)
                raise ValueError("roll the savepoint back")
        except ValueError:
            pass
        # savepoint_rollback() itself dropped the savepoint's callbacks, and only those
        ((before, after),) = spy.calls
        assert before == [callback, print] and after == [callback]
        assert connection.run_on_commit == [outer]


def test_atomic_rolls_the_transaction_back_through_the_instances_rollback_which_clears_them(
    monkeypatch,
):
    spy = Spy(monkeypatch, "rollback")
    try:
        with transaction.atomic():
            transaction.on_commit(callback)
            with transaction.atomic():
                transaction.on_commit(print)
            raise ValueError("roll the transaction back")
    except ValueError:
        pass
    ((before, after),) = spy.calls
    assert before == [callback, print] and after == []


def test_set_rollback_ends_the_block_through_the_instances_rollback(monkeypatch):
    spy = Spy(monkeypatch, "rollback")
    with transaction.atomic():
        transaction.on_commit(callback)
        transaction.set_rollback(True)
    assert spy.calls == [([callback], [])]


def test_a_savepoint_marked_for_rollback_ends_through_savepoint_rollback(monkeypatch):
    spy = Spy(monkeypatch, "savepoint_rollback")
    with transaction.atomic():
        with transaction.atomic():
            transaction.on_commit(callback)
            transaction.set_rollback(True)
        assert spy.calls == [([callback], [])]


@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="closing an in-memory SQLite database is a no-op"
)
def test_close_inside_a_transaction_clears_the_callbacks(monkeypatch):
    spy = Spy(monkeypatch, "close")
    with transaction.atomic():
        transaction.on_commit(callback)
        connection.close()
        assert spy.calls == [([callback], [])]
        assert connection.run_on_commit == []


def test_close_of_an_in_memory_sqlite_database_keeps_the_transaction_and_its_callbacks():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    with transaction.atomic():
        transaction.on_commit(callback)
        connection.close()
        assert callbacks() == [callback]  # nothing rolled back: nothing for airlock to settle
        transaction.set_rollback(True)


# -- TestCase ----------------------------------------------------------------------------------
def test_atomic_blocks_first_entry_is_not_from_a_test_case_outside_one():
    with transaction.atomic():
        assert connection.atomic_blocks[0]._from_testcase is False


class TestCaseTransaction(django.test.TestCase):
    """Django's TestCase wraps each test in atomic blocks marked ``_from_testcase``."""

    databases = {"default", "other"}

    def test_atomic_blocks_first_entry_is_marked_from_testcase(self):
        assert connection.atomic_blocks[0]._from_testcase is True
        with transaction.atomic():
            assert connection.atomic_blocks[0]._from_testcase is True
            assert connection.atomic_blocks[-1]._from_testcase is False


@pytest.mark.django_db(databases=["default", "other"])
def test_pytest_djangos_database_fixture_is_such_a_test_case_transaction():
    assert connection.atomic_blocks[0]._from_testcase is True
