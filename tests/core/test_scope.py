"""Scope: buffering, flush / discard, states, fail-fast, context managers (SPEC §2, §2.2)."""

from __future__ import annotations

import logging

import pytest

import airlock
from airlock import _events
from airlock.exceptions import ScopeStateError
from tests.failures import raises_dispatch

from .conftest import Recorder, notify, send_email


class Boom(Exception):
    pass


def test_a_scope_buffers_until_it_ends_then_dispatches_in_fifo_order(recorder):
    with airlock.scope(executor=recorder) as scope:
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
        airlock.enqueue(send_email, 3)
        assert recorder.calls == []
        assert [str(i) for i in scope.intents] == ["send_email(1)", "notify(2)", "send_email(3)"]
    assert recorder.calls == ["send_email(1)", "notify(2)", "send_email(3)"]
    assert scope.is_flushed and not scope.is_active and not scope.is_discarded
    assert scope.dispatched == recorder.intents
    assert scope.intents == recorder.intents  # what it held when it decided (SPEC 2.2)


def test_scope_is_current_inside_the_block_and_gone_after(recorder):
    assert airlock.get_current_scope() is None
    with airlock.scope(executor=recorder) as outer:
        assert airlock.get_current_scope() is outer
        with airlock.scope(executor=recorder) as inner:
            assert airlock.get_current_scope() is inner
            assert inner.parent is outer
        assert airlock.get_current_scope() is outer
    assert airlock.get_current_scope() is None


def test_an_exception_discards_the_buffer_and_propagates_unchanged(recorder, events):
    error = Boom("payment declined")
    with pytest.raises(Boom) as caught:
        with airlock.scope(executor=recorder) as scope:
            airlock.enqueue(send_email, 1)
            raise error
    assert caught.value is error
    assert recorder.intents == []
    assert scope.is_discarded and not scope.is_flushed
    assert ("discarded", "send_email(1)", None) in events


def test_base_exceptions_also_discard_and_propagate(recorder):
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=recorder) as scope:
            airlock.enqueue(send_email)
            raise KeyboardInterrupt
    assert scope.is_discarded and recorder.intents == []


class FlushOnError(airlock.Scope):
    def should_flush(self, error):
        return True


def test_should_flush_can_flush_on_error_and_the_error_still_propagates(recorder):
    with pytest.raises(Boom):
        with airlock.scope(executor=recorder, _cls=FlushOnError):
            airlock.enqueue(send_email, 1)
            raise Boom
    assert recorder.calls == ["send_email(1)"]


def test_should_flush_receives_the_error():
    seen = []

    class Spy(airlock.Scope):
        def should_flush(self, error):
            seen.append(error)
            return super().should_flush(error)

    with airlock.scope(executor=Recorder(), _cls=Spy):
        pass
    error = Boom()
    with pytest.raises(Boom), airlock.scope(executor=Recorder(), _cls=Spy):
        raise error
    assert seen == [None, error]


def test_should_flush_can_discard_on_success(recorder):
    class NeverFlush(airlock.Scope):
        def should_flush(self, error):
            return False

    with airlock.scope(executor=recorder, _cls=NeverFlush) as scope:
        airlock.enqueue(send_email)
    assert scope.is_discarded and recorder.intents == []


def test_a_flush_failure_while_handling_an_error_is_logged_and_the_original_error_wins(caplog):
    error = Boom("original")
    with pytest.raises(Boom) as caught:
        with airlock.scope(executor=Recorder(fail_on=1), _cls=FlushOnError):
            airlock.enqueue(send_email)
            raise error
    assert caught.value is error
    assert "flush of" in caplog.text and "executor failed" in caplog.text


def test_fail_fast_the_second_of_three_raises_the_third_never_runs_and_scope_is_flushed(events):
    recorder = Recorder(fail_on=2)
    with raises_dispatch(RuntimeError, r"executor failed on send_email\(2\)") as info:
        with airlock.scope(executor=recorder) as scope:
            first = airlock.enqueue(send_email, 1)
            second = airlock.enqueue(send_email, 2)
            third = airlock.enqueue(send_email, 3)
    assert recorder.calls == ["send_email(1)"]
    assert scope.is_flushed
    assert scope.dispatched == [first]
    assert [i for i, _ in scope.failed] == [second, third]
    assert recorder.after_flush_calls == 1
    # The error names what failed and what was never sent, and the third has a fate too.
    assert info.value.failed == [second, third] and info.value.unsent == [third]
    assert "send_email(2)" in str(info.value) and "not sent: send_email(3)" in str(info.value)
    fates = [(event, intent) for event, intent, _ in events if event in ("dispatched", "failed")]
    assert fates == [("dispatched", "send_email(1)"), ("failed", "send_email(2)"),
                     ("failed", "send_email(3)")]
    with pytest.raises(ScopeStateError):
        scope.flush()


def test_after_flush_runs_once_per_flush(recorder):
    with airlock.scope(executor=recorder):
        for i in range(5):
            airlock.enqueue(send_email, i)
    assert recorder.after_flush_calls == 1
    with airlock.scope(executor=recorder):
        airlock.enqueue(send_email)
    assert recorder.after_flush_calls == 2


def test_after_flush_is_not_called_when_nothing_was_dispatched(recorder):
    with airlock.scope(executor=recorder):
        pass
    with airlock.scope(airlock.DropAll(), executor=recorder):
        airlock.enqueue(send_email)
    assert recorder.after_flush_calls == 0


def test_executors_without_after_flush_are_fine():
    ran = []
    with airlock.scope(executor=ran.append):
        airlock.enqueue(send_email)
    assert len(ran) == 1


async def test_async_with_buffers_and_flushes(recorder):
    async with airlock.scope(executor=recorder) as scope:
        assert airlock.get_current_scope() is scope
        airlock.enqueue(send_email, 1)
        assert recorder.intents == []
    assert recorder.calls == ["send_email(1)"]
    assert airlock.get_current_scope() is None


async def test_async_with_discards_on_error_and_propagates(recorder):
    with pytest.raises(Boom):
        async with airlock.scope(executor=recorder) as scope:
            airlock.enqueue(send_email)
            raise Boom
    assert scope.is_discarded and recorder.intents == []


def test_manual_enter_exit_flush(recorder):
    scope = airlock.scope(executor=recorder)
    assert not scope.is_active
    assert scope.enter() is scope
    assert scope.is_active
    intent = airlock.enqueue(send_email)
    scope.exit()
    assert not scope.is_active and airlock.get_current_scope() is None
    assert scope.flush() == [intent]
    assert recorder.intents == [intent]


def test_discard_returns_what_was_dropped(recorder):
    scope = airlock.scope(executor=recorder).enter()
    intent = airlock.enqueue(send_email)
    scope.exit()
    assert scope.discard() == [intent]
    assert scope.is_discarded and recorder.intents == []


def test_flush_returns_only_what_policies_let_through(recorder):
    scope = airlock.scope(airlock.BlockTasks({"notify"}), executor=recorder).enter()
    kept = airlock.enqueue(send_email)
    airlock.enqueue(notify)
    scope.exit()
    assert scope.flush() == [kept]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        (["enter", "flush"], "while it is active; exit"),
        (["enter", "discard"], "while it is active; exit"),
        (["enter", "exit", "flush", "flush"], "already flushed"),
        (["enter", "exit", "flush", "discard"], "already flushed"),
        (["enter", "exit", "discard", "flush"], "already discarded"),
        (["enter", "enter"], "already entered; create a new scope"),
        (["enter", "exit", "enter"], "already entered; create a new scope"),
        (["exit"], "not active; exit"),
        (["enter", "exit", "exit"], "not active; exit"),
    ],
)
def test_wrong_state_calls_raise_scope_state_error_naming_the_fix(steps, message):
    scope = airlock.scope(executor=Recorder())
    *setup, last = steps
    try:
        for step in setup:
            getattr(scope, step)()
        with pytest.raises(ScopeStateError, match=message):
            getattr(scope, last)()
    finally:
        if scope.is_active:
            scope.exit()


def test_scope_arguments_pick_policy_executor_and_class(recorder):
    class MyScope(airlock.Scope):
        def __init__(self, policy=None, *, executor=None, label=""):
            super().__init__(policy, executor=executor)
            self.label = label

    policy = airlock.DropAll()
    scope = airlock.scope(policy, executor=recorder, _cls=MyScope, label="x")
    assert type(scope) is MyScope and scope.label == "x"
    assert scope.policy is policy and scope.executor is recorder


def test_a_scope_without_a_policy_allows_all_and_uses_the_sync_executor_by_default():
    from airlock.integrations.executors.sync import sync_executor

    scope = airlock.scope()
    assert isinstance(scope.policy, airlock.AllowAll)
    assert scope.executor is sync_executor


def test_the_default_sync_executor_runs_the_task_in_its_own_scope():
    ran = []

    def follow_up(n):
        ran.append(("follow_up", n))

    def task(n):
        ran.append(("task", n, airlock.get_current_scope() is not None))
        airlock.enqueue(follow_up, n)  # works: the task runs inside a fresh scope
        ran.append("task done")

    with airlock.scope():
        airlock.enqueue(task, 1)
    assert ran == [("task", 1, True), "task done", ("follow_up", 1)]


def test_on_buffered_sees_each_intent_entering_the_buffer():
    seen = []

    class Watching(airlock.Scope):
        def on_buffered(self, intent):
            seen.append(str(intent))

    with airlock.scope(executor=Recorder(), _cls=Watching):
        airlock.enqueue(send_email, 1)
        with airlock.scope(executor=Recorder()):
            airlock.enqueue(notify, 2)
    assert seen == ["send_email(1)", "notify(2)"]


def test_fate_events_follow_an_intent_from_enqueue_to_dispatch(events, recorder):
    with airlock.scope(airlock.BlockTasks({"notify"}), executor=recorder) as scope:
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert events == [
        ("enqueued", "send_email(1)", None),
        ("enqueued", "notify(2)", None),
        ("dropped", "notify(2)", scope.policy),
        ("dispatched", "send_email(1)", recorder),
    ]


def test_a_failing_event_listener_never_breaks_the_flush(recorder, caplog):
    def broken(*args):
        raise ValueError("listener bug")

    unsubscribe = _events.subscribe(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="airlock"):
            with airlock.scope(executor=recorder):
                airlock.enqueue(send_email)
    finally:
        unsubscribe()
    assert recorder.calls == ["send_email()"]
    assert "listener bug" in caplog.text


def test_repr_names_the_class_state_and_policy():
    scope = airlock.scope(airlock.DropAll(), executor=Recorder())
    assert repr(scope) == "<Scope new intents=0 policy=DropAll()>"
