"""DjangoScope and real transactions (runs on SQLite and on PostgreSQL: AIRLOCK_TEST_DB)."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

import airlock
from airlock import _events
from airlock.integrations.django import DjangoScope, signals
from airlock.testing import capture
from tests.django.models import Note
from tests.django.tasks import Recorder, explode, record

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


@pytest.fixture(autouse=True, params=["outbox hook", "no buffer hook"])
def _hooks(request):
    """Each test with the outbox app's buffer hook (enqueue goes through ``on_buffered``) and
    without it (the direct path a project without the outbox takes)."""
    if request.param == "no buffer hook":
        request.getfixturevalue("no_buffer_hooks")


@pytest.fixture
def ex():
    return Recorder()


def scope(ex, **kwargs):
    return airlock.scope(executor=ex, _cls=DjangoScope, **kwargs)


# 1. Inner savepoint rolled back ------------------------------------------------------------
def test_inner_savepoint_rollback_drops_only_its_intents(ex):
    with capture(execute=True) as seen, scope(ex), transaction.atomic():
        Note.objects.create(text="outer")
        airlock.enqueue(record, "before")
        try:
            with transaction.atomic():
                Note.objects.create(text="inner")
                airlock.enqueue(record, "inner")
                raise ValueError("roll the savepoint back")
        except ValueError:
            pass
        airlock.enqueue(record, "after")
    assert ex.sent == ["before", "after"]
    assert list(Note.objects.values_list("text", flat=True)) == ["outer"]
    assert [(r.args[0], r.fate, r.detail) for r in seen.rolled_back] == [
        ("inner", "rolled_back", "default")
    ]


def test_rolled_back_intent_frees_its_key_for_a_retry(ex):
    with scope(ex), transaction.atomic():
        for attempt in range(2):
            try:
                with transaction.atomic():
                    airlock.enqueue(record, f"attempt {attempt}", _key="order-1")
                    if attempt == 0:
                        raise ValueError("first attempt fails")
            except ValueError:
                continue
    assert ex.sent == ["attempt 1"]


def test_released_savepoint_then_outer_savepoint_rollback_drops(ex):
    with scope(ex), transaction.atomic():
        airlock.enqueue(record, "kept")
        try:
            with transaction.atomic():
                with transaction.atomic():
                    airlock.enqueue(record, "deep")  # its savepoint is released...
                raise ValueError("...but the enclosing one rolls back")
        except ValueError:
            pass
    assert ex.sent == ["kept"]


# 2. Outer transaction rolled back ----------------------------------------------------------
def test_outer_rollback_drops_every_intent_even_after_the_scope_flushed(ex):
    events = []
    unsubscribe = _events.subscribe(lambda e, i, s, d: events.append((e, i.args[0], d)))
    try:
        with pytest.raises(ValueError), transaction.atomic():
            with scope(ex):
                Note.objects.create(text="doomed")
                airlock.enqueue(record, "a")
                with transaction.atomic():
                    airlock.enqueue(record, "b")
            assert ex.sent == []  # flushed, but waiting for the commit
            raise ValueError("roll everything back")
    finally:
        unsubscribe()
    assert ex.sent == []
    assert Note.objects.count() == 0
    # Intents rolled back together are reported in no particular order.
    assert sorted((i, d) for e, i, d in events if e == _events.ROLLED_BACK) == [
        ("a", "default"),
        ("b", "default"),
    ]


def test_rollback_inside_the_scope_sends_signal_and_nothing_is_discarded(ex):
    rolled = []

    def receiver(sender, intent, scope, alias, **kw):
        rolled.append((intent.args[0], alias))

    signals.intent_rolled_back.connect(receiver)
    try:
        with scope(ex) as s:
            with pytest.raises(ValueError), transaction.atomic():
                airlock.enqueue(record, "x")
                raise ValueError
            assert s.intents == []
            airlock.enqueue(record, "y")
    finally:
        signals.intent_rolled_back.disconnect(receiver)
    assert rolled == [("x", "default")]
    assert ex.sent == ["y"]


# 3. Two aliases ------------------------------------------------------------------------------
def test_intent_in_other_alias_waits_for_other_not_default(ex):
    with transaction.atomic(using="default"):
        with transaction.atomic(using="other"):
            with scope(ex, using="other"):
                airlock.enqueue(record, "other-only")
            assert ex.sent == []
        # `other` committed; `default` is still open but this intent does not wait for it.
        assert ex.sent == ["other-only"]


def test_intent_in_atomic_other_ignores_default_commit(ex):
    with transaction.atomic(using="other"):
        with scope(ex):
            airlock.enqueue(record, "o")
        with transaction.atomic(using="default"):
            Note.objects.create(text="default work")
        assert ex.sent == []  # default committed; other has not
    assert ex.sent == ["o"]


def test_nested_atomics_on_both_aliases_wait_for_both(ex):
    with transaction.atomic(using="other"):
        with transaction.atomic(using="default"):
            with scope(ex):
                Note.objects.using("default").create(text="d")
                Note.objects.using("other").create(text="o")
                airlock.enqueue(record, "both")
        assert ex.sent == []  # default committed, other still open
    assert ex.sent == ["both"]


def test_rollback_on_either_alias_drops_intent_tied_to_both(ex):
    with transaction.atomic(using="default"):
        with pytest.raises(ValueError), transaction.atomic(using="other"):
            with scope(ex):
                airlock.enqueue(record, "both")
            raise ValueError("other rolls back")
    assert ex.sent == []


def test_using_restricts_the_aliases_waited_for(ex):
    with transaction.atomic(using="default"), transaction.atomic(using="other"):
        with scope(ex, using=["default"]):
            airlock.enqueue(record, "default-only")
        assert ex.sent == []
    assert ex.sent == ["default-only"]


# 4. Flush vs commit order ----------------------------------------------------------------------
def test_flush_before_commit_waits_for_commit(ex):
    with transaction.atomic():
        with scope(ex):
            airlock.enqueue(record, "a")
        assert ex.sent == []
    assert ex.sent == ["a"]


def test_commit_before_flush_dispatches_at_flush(ex):
    with scope(ex) as s:
        with transaction.atomic():
            intent = airlock.enqueue(record, "a")
            assert s.ticket_for(intent).waiting == ["default"]
        assert s.ticket_for(intent) is None  # committed: it waits for nothing any more
        assert ex.sent == []
    assert ex.sent == ["a"]


def test_outside_a_transaction_flush_dispatches_at_once(ex):
    with scope(ex) as s:
        airlock.enqueue(record, "a")
        assert s.ticket_for(s.intents[0]) is None
    assert ex.sent == ["a"]


def test_fifo_across_committed_before_flush_and_committed_after_flush(ex):
    s = scope(ex).enter()
    airlock.enqueue(record, "1 no transaction")
    with transaction.atomic(using="other"):
        airlock.enqueue(record, "2 other, commits before flush")
    outer = transaction.atomic(using="default")
    outer.__enter__()
    airlock.enqueue(record, "3 default, commits after flush")
    with transaction.atomic(using="other"):
        airlock.enqueue(record, "4 default+other")
    airlock.enqueue(record, "5 default")
    s.exit()
    s.flush()
    assert ex.sent == ["1 no transaction", "2 other, commits before flush"]
    assert ex.batches == 1
    outer.__exit__(None, None, None)
    assert ex.sent == [
        "1 no transaction",
        "2 other, commits before flush",
        "3 default, commits after flush",
        "4 default+other",
        "5 default",
    ]
    assert ex.batches == 2  # after_flush once per batch: at flush, then at the commit


def test_policy_drop_at_flush_never_dispatches_after_commit(ex):
    with capture(execute=True) as seen, transaction.atomic():
        with scope(ex):
            with airlock.policy(airlock.DropAll()):
                airlock.enqueue(record, "dropped")
            airlock.enqueue(record, "kept")
    assert ex.sent == ["kept"]
    assert [(r.args[0], r.fate) for r in seen] == [("dropped", "dropped"), ("kept", "dispatched")]


def test_discarded_scope_never_dispatches_after_commit(ex):
    with transaction.atomic():
        with pytest.raises(KeyError), scope(ex):
            airlock.enqueue(record, "a")
            raise KeyError
    assert ex.sent == []


def test_nested_scope_keeps_the_transaction_it_was_enqueued_in(ex):
    later = transaction.atomic()
    with scope(ex):
        with scope(ex):
            airlock.enqueue(record, "outside")  # no transaction at enqueue
            later.__enter__()  # the inner scope ends inside a transaction
        later.__exit__(ValueError, ValueError(), None)  # which then rolls back
        assert ex.sent == []  # captured by the outer scope: not tied to the rolled-back one
        with transaction.atomic():
            with scope(ex):
                airlock.enqueue(record, "inside")
    assert ex.sent == ["outside", "inside"]


def test_nested_scope_captured_intent_still_rolls_back(ex):
    with scope(ex):
        with pytest.raises(ValueError), transaction.atomic():
            with scope(ex):
                airlock.enqueue(record, "doomed")
            raise ValueError
        airlock.enqueue(record, "fine")
    assert ex.sent == ["fine"]


def test_a_buffer_hook_installed_while_a_scope_is_open_sees_its_later_intents(ex, no_buffer_hooks):
    # After its first enqueue a scope takes intents on its direct path (Tied), which skips
    # on_buffered; a hook installed then (the outbox's install()) must still see them.
    from airlock.integrations.django.scope import buffer_hooks

    seen = []

    def hook(scope, intent):
        seen.append(intent.args)

    with scope(ex), transaction.atomic():
        airlock.enqueue(record, "a")
        airlock.enqueue(record, "b")
        buffer_hooks.append(hook)
        try:
            airlock.enqueue(record, "c")
        finally:
            buffer_hooks.remove(hook)
        airlock.enqueue(record, "d")
    assert seen == [("c",)] and ex.sent == ["a", "b", "c", "d"]


def test_tying_that_raises_on_the_direct_path_leaves_the_intent_out(
    ex, monkeypatch, no_buffer_hooks
):
    # A fault no real connection produces on demand: _tie is replaced to raise once.
    tie = DjangoScope._tie

    def broken(self, intent):
        if intent.args == ("b",):
            raise RuntimeError("tie failed")
        return tie(self, intent)

    with scope(ex) as s, transaction.atomic():
        airlock.enqueue(record, "a")
        assert type(s._direct).__name__ == "Tied"  # the path under test is taken
        monkeypatch.setattr(DjangoScope, "_tie", broken)
        with pytest.raises(RuntimeError, match="tie failed"):
            airlock.enqueue(record, "b")
        airlock.enqueue(record, "c")
        assert [i.args for i in s.intents] == [("a",), ("c",)]
    assert ex.sent == ["a", "c"]


class Audited(DjangoScope):
    """A DjangoScope subclass with an on_buffered of its own, which refuses the argument "x"."""

    def on_buffered(self, intent):
        if intent.args == ("x",):
            raise TypeError("x is refused")
        self.seen = [*getattr(self, "seen", []), intent.args[0]]
        super().on_buffered(intent)


def test_a_subclass_hook_sees_every_intent_on_the_direct_path(ex):
    with airlock.scope(executor=ex, _cls=Audited) as s, transaction.atomic():
        airlock.enqueue(record, "a")
        airlock.enqueue(record, "b")
        with pytest.raises(TypeError, match="x is refused"):
            airlock.enqueue(record, "x")
        with pytest.raises(ValueError), transaction.atomic():
            airlock.enqueue(record, "rolled back")
            raise ValueError
        airlock.enqueue(record, "c")
    assert s.seen == ["a", "b", "rolled back", "c"]
    assert ex.sent == ["a", "b", "c"]


def test_a_scope_exited_while_another_thread_takes_its_first_intent_refuses_the_next(
    ex, monkeypatch
):
    # A thread sharing the scope's context makes its first enqueue; the scope exits (in the
    # main thread) while that enqueue is being taken. The next enqueue from the thread must
    # raise, not land in the finished buffer without a fate. The timing is forced: _tie is
    # replaced to wait until the scope has exited.
    import contextvars
    import threading

    from airlock.exceptions import ScopeStateError

    in_tie, exited = threading.Event(), threading.Event()
    tie = DjangoScope._tie

    def slow_tie(self, intent):
        if intent.args == ("first",):
            in_tie.set()
            assert exited.wait(10)
        return tie(self, intent)

    monkeypatch.setattr(DjangoScope, "_tie", slow_tie)
    outcome = []

    def work():
        airlock.enqueue(record, "first")
        try:
            airlock.enqueue(record, "second")
            outcome.append("buffered")
        except ScopeStateError:
            outcome.append("refused")

    with scope(ex) as s:
        thread = threading.Thread(target=contextvars.copy_context().run, args=(work,))
        thread.start()
        assert in_tie.wait(10)
    exited.set()
    thread.join(10)
    assert not thread.is_alive() and outcome == ["refused"]
    assert [i.args for i in s.intents] == [("first",)] and ex.sent == ["first"]


# 5. Failing intent in the middle -------------------------------------------------------------
def test_failing_intent_is_isolated_logged_and_signalled(ex, caplog):
    failed = []

    def receiver(sender, intent, scope, error, **kw):
        failed.append((str(intent), str(error)))

    signals.intent_failed.connect(receiver)
    try:
        with caplog.at_level(logging.ERROR, logger="airlock"), transaction.atomic():
            with scope(ex):
                airlock.enqueue(record, "first")
                airlock.enqueue(explode, "middle")
                airlock.enqueue(record, "last")
    finally:
        signals.intent_failed.disconnect(receiver)
    assert ex.sent == ["first", "last"]
    assert failed == [("explode('middle')", "task middle exploded")]
    assert "explode('middle')" in caplog.text and "task middle exploded" in caplog.text


def test_a_batch_failing_in_after_flush_reports_the_intents_it_did_not_send(caplog):
    # An executor that batches like the broker ones and loses the connection after the first
    # message; the real partial failures are forced in the batched executors' own suites.
    from airlock.exceptions import DispatchError

    class Batch:
        def __init__(self):
            self.pending = []

        def __call__(self, intent):
            self.pending.append(intent)

        def after_flush(self):
            unsent, self.pending = self.pending[1:], []
            raise DispatchError("broker went away", [(i, ConnectionError("gone")) for i in unsent])

    failures = []

    def on_failure(sender, intent, scope, error, **kwargs):
        failures.append((intent.args[0], str(error)))

    signals.intent_failed.connect(on_failure)
    try:
        with capture(execute=True) as seen, airlock.scope(executor=Batch(), _cls=DjangoScope):
            with transaction.atomic():
                for label in ("a", "b", "c"):
                    airlock.enqueue(record, label)
    finally:
        signals.intent_failed.disconnect(on_failure)
    assert failures == [("b", "gone"), ("c", "gone")]
    assert [(r.args[0], r.fate) for r in seen] == [
        ("a", "dispatched"),
        ("b", "failed"),
        ("c", "failed"),
    ]
    assert "after_flush() failed" in caplog.text


def test_schedule_dispatch_decides_when_a_ready_batch_runs(ex):
    later = []

    class Deferred(DjangoScope):
        def schedule_dispatch(self, callback):
            later.append(callback)

    with transaction.atomic():
        with airlock.scope(executor=ex, _cls=Deferred):
            airlock.enqueue(record, "a")
            airlock.enqueue(record, "b")
    assert ex.sent == [] and len(later) == 1  # one batch: the commit released both
    later[0]()
    assert ex.sent == ["a", "b"] and ex.batches == 1


# One on_commit callback per savepoint level, not per intent ---------------------------------
def test_intents_at_one_savepoint_level_share_one_on_commit_callback(ex):
    from django.db import connection

    with scope(ex), transaction.atomic():
        for label in ("a", "b", "c"):
            airlock.enqueue(record, label)
        assert len(connection.run_on_commit) == 1
        transaction.on_commit(lambda: None)  # someone else's callback: ours starts again after
        airlock.enqueue(record, "d")
        with transaction.atomic():  # a savepoint: its intents get their own callback
            airlock.enqueue(record, "e")
            airlock.enqueue(record, "f")
        assert len(connection.run_on_commit) == 4
    assert ex.sent == ["a", "b", "c", "d", "e", "f"]


def test_rolled_back_savepoint_between_shared_intents_drops_only_its_own(ex):
    with scope(ex), transaction.atomic():
        airlock.enqueue(record, "a")
        try:
            with transaction.atomic():
                airlock.enqueue(record, "inner")
                raise ValueError("roll the savepoint back")
        except ValueError:
            pass
        airlock.enqueue(record, "b")  # joins the callback "a" registered: same savepoint level
        try:
            with transaction.atomic():
                airlock.enqueue(record, "inner again")
                raise ValueError("roll the savepoint back")
        except ValueError:
            pass
    assert ex.sent == ["a", "b"]


def test_a_commit_releasing_many_savepoint_levels_sends_one_batch(ex):
    with transaction.atomic():
        with scope(ex):
            for label in ("a", "b", "c"):
                with transaction.atomic():  # a bulk job: one savepoint per row
                    airlock.enqueue(record, label)
        assert ex.sent == []
    assert ex.sent == ["a", "b", "c"] and ex.batches == 1


def test_finished_scope_is_freed_without_the_cycle_collector(ex):
    import gc
    import weakref

    gc.disable()
    try:
        with scope(ex) as s, transaction.atomic():
            airlock.enqueue(record, "a")
        ref = weakref.ref(s)
        del s
        assert ref() is None
    finally:
        gc.enable()


def test_scope_is_the_configured_default():
    assert type(airlock.scope()) is DjangoScope
