"""A policy or hook that raises still lets its scope settle, and fails what it was judging.

The end-of-work decisions (``_judging``): the scope policy's and local policies' ``allows``,
the ancestors' ``before_descendant_flushes``, ``should_flush``; and ``on_buffered`` at enqueue.
A plain ``Scope`` fails fast here; isolate mode is in ``tests/django/test_isolate_mode.py``.
"""

from __future__ import annotations

import logging

import pytest

import airlock
from airlock.exceptions import DispatchError, PolicyError
from airlock.testing import capture

from .conftest import Recorder, send_email

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")


def fates(events):
    return [(event, intent) for event, intent, _ in events if event in TERMINAL]


class Broken:
    """A policy whose ``allows`` raises for the intent with argument 2."""

    def on_enqueue(self, intent: airlock.Intent) -> None:
        pass

    def allows(self, intent: airlock.Intent) -> bool:
        if intent.args == (2,):
            raise ValueError("policy bug")
        return True

    def __repr__(self) -> str:
        return "Broken()"


def assert_policy_error(error: BaseException, names: str) -> None:
    assert isinstance(error, PolicyError)
    assert names in str(error)
    assert isinstance(error.__cause__, ValueError) and str(error.__cause__) == "policy bug"


# -- allows() raising ---------------------------------------------------------------------------
def test_a_scope_policy_raising_in_allows_fails_every_intent_before_anything_is_sent(events):
    recorder = Recorder()
    with pytest.raises(DispatchError) as raised:
        with airlock.scope(Broken(), executor=recorder) as scope:
            for n in (1, 2, 3):
                airlock.enqueue(send_email, n)
    assert scope.is_flushed  # settled: neither left active nor half-way
    assert recorder.intents == [] and recorder.after_flush_calls == 0
    assert sorted(fates(events)) == [  # once each
        ("failed", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    failed = dict((str(i), e) for i, e in scope.failed)
    assert_policy_error(failed["send_email(2)"], "Broken() raised ValueError: policy bug")
    # the others fail with the same cause, and the error names them as not sent
    assert failed["send_email(1)"] is failed["send_email(3)"] is failed["send_email(2)"]
    assert [str(i) for i in raised.value.unsent] == ["send_email(1)", "send_email(3)"]
    assert raised.value.__cause__ is failed["send_email(2)"]
    assert "Broken()" in str(raised.value)


def test_a_local_policy_raising_in_allows_fails_like_a_scope_policy(events):
    recorder = Recorder()
    with pytest.raises(DispatchError) as raised:
        with airlock.scope(executor=recorder) as scope:
            airlock.enqueue(send_email, 1)
            with airlock.policy(Broken()):
                airlock.enqueue(send_email, 2)
            airlock.enqueue(send_email, 3)
    assert scope.is_flushed and recorder.intents == []
    assert sorted(fates(events)) == [
        ("failed", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    errors = {str(i): e for i, e in raised.value.errors}
    assert_policy_error(errors["send_email(2)"], "Broken()")


def test_a_local_policy_raising_in_an_inner_scope_is_judged_where_the_intent_dispatches(events):
    recorder = Recorder()
    with pytest.raises(DispatchError):
        with airlock.scope(executor=recorder) as outer:
            with airlock.scope() as inner, airlock.policy(Broken()):
                airlock.enqueue(send_email, 2)
            assert inner.is_flushed and outer.captured_intents  # captured, not judged yet
    assert outer.is_flushed and recorder.intents == []
    assert fates(events) == [("failed", "send_email(2)")]


# -- hooks raising ----------------------------------------------------------------------------
class RefusingAncestor(airlock.Scope):
    def before_descendant_flushes(self, exiting_scope, intents):
        raise ValueError("policy bug")


def test_before_descendant_flushes_raising_fails_the_intents_it_was_offered(events):
    recorder = Recorder()
    with pytest.raises(DispatchError) as raised:
        with airlock.scope(executor=recorder, _cls=RefusingAncestor) as outer:
            with airlock.scope() as inner:
                airlock.enqueue(send_email, 1)
                airlock.enqueue(send_email, 2)
    assert inner.is_flushed
    assert outer.is_discarded and outer.intents == []  # nothing was captured
    assert recorder.intents == []
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]
    for _, error in raised.value.errors:
        assert_policy_error(error, "before_descendant_flushes")


class BrokenShouldFlush(airlock.Scope):
    def should_flush(self, error):
        raise ValueError("policy bug")


def test_should_flush_raising_fails_every_intent_and_discards_the_scope(events):
    recorder = Recorder()
    with pytest.raises(DispatchError) as raised:
        with airlock.scope(executor=recorder, _cls=BrokenShouldFlush) as scope:
            airlock.enqueue(send_email, 1)
            airlock.enqueue(send_email, 2)
    assert scope.is_discarded and recorder.intents == []
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]
    assert [str(i) for i in raised.value.failed] == ["send_email(1)", "send_email(2)"]
    for _, error in raised.value.errors:
        assert_policy_error(error, "should_flush")
    assert scope.intents == raised.value.failed  # still readable


def test_should_flush_raising_while_an_error_propagates_lets_the_original_win(events, caplog):
    original = KeyError("the unit of work failed")
    with caplog.at_level(logging.ERROR, logger="airlock"):
        with pytest.raises(KeyError) as raised:
            with airlock.scope(executor=Recorder(), _cls=BrokenShouldFlush) as scope:
                airlock.enqueue(send_email, 1)
                raise original
    assert raised.value is original
    assert scope.is_discarded
    assert fates(events) == [("failed", "send_email(1)")]
    assert "should_flush" in caplog.text and "policy bug" in caplog.text


class Refusing(airlock.Scope):
    """Refuses (``on_buffered`` raising) intents whose argument does not serialise."""

    def on_buffered(self, intent):
        if not all(isinstance(a, int) for a in intent.args):
            raise TypeError(f"{intent} does not serialise")


def test_on_buffered_raising_at_enqueue_refuses_the_intent_which_then_has_no_fate(events):
    recorder = Recorder()
    with capture(execute=True) as seen:
        with airlock.scope(executor=recorder, _cls=Refusing) as scope:
            airlock.enqueue(send_email, 1)
            with pytest.raises(TypeError, match="does not serialise"):
                airlock.enqueue(send_email, object(), _key="k")
            airlock.enqueue(send_email, 3, _key="k")  # the refused one did not take its key
    assert [i.args for i in scope.intents] == [(1,), (3,)]
    assert recorder.calls == ["send_email(1)", "send_email(3)"]
    assert [r.args for r in seen] == [(1,), (3,)]  # the refused one was never seen
    assert fates(events) == [("dispatched", "send_email(1)"), ("dispatched", "send_email(3)")]


def test_on_buffered_raising_on_the_direct_path_takes_the_intent_back_out():
    # No listener, no key: after the first enqueue the scope takes intents without _enqueue
    # (Buffer._direct, a Hooked here), and the hook must still refuse them the same way.
    recorder = Recorder()
    with airlock.scope(executor=recorder, _cls=Refusing) as scope:
        airlock.enqueue(send_email, 1)
        assert type(scope._direct).__name__ == "Hooked"  # the path under test is taken
        airlock.enqueue(send_email, 2)
        with pytest.raises(TypeError, match="does not serialise"):
            airlock.enqueue(send_email, "x")
        airlock.enqueue(send_email, 4)
    assert [i.args for i in scope.intents] == [(1,), (2,), (4,)]
    assert recorder.calls == ["send_email(1)", "send_email(2)", "send_email(4)"]


def test_on_buffered_refusing_a_captured_intent_fails_it_and_the_rest_still_go(events, caplog):
    recorder = Recorder()
    with airlock.scope(executor=recorder, _cls=Refusing) as outer:
        with airlock.scope():
            airlock.enqueue(send_email, 1)
            airlock.enqueue(send_email, "x")  # the inner plain scope takes it; outer refuses
    assert outer.is_flushed and recorder.calls == ["send_email(1)"]
    assert fates(events) == [("failed", "send_email('x')"), ("dispatched", "send_email(1)")]
    assert "could not capture" in caplog.text


# -- interrupts while judging -----------------------------------------------------------------
class Interrupting(Broken):
    """A policy interrupted (Ctrl-C) while judging the intent with argument 2."""

    def allows(self, intent: airlock.Intent) -> bool:
        if intent.args == (2,):
            raise KeyboardInterrupt
        return True


@pytest.mark.parametrize("where", ["scope policy", "local policy"])
def test_an_interrupt_in_a_policy_fails_every_undecided_intent_then_propagates(where, events):
    recorder = Recorder()
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(Interrupting() if where == "scope policy" else None,
                           executor=recorder) as scope:
            airlock.enqueue(send_email, 1)
            with airlock.policy(Interrupting() if where == "local policy" else airlock.AllowAll()):
                airlock.enqueue(send_email, 2)
            airlock.enqueue(send_email, 3)
    assert scope.is_flushed and recorder.intents == []
    assert sorted(fates(events)) == [
        ("failed", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    assert all(isinstance(e, KeyboardInterrupt) for _, e in scope.failed)


def test_an_interrupt_in_before_descendant_flushes_fails_what_it_was_offered(events):
    class Interrupted(airlock.Scope):
        def before_descendant_flushes(self, exiting_scope, intents):
            raise SystemExit(1)

    with pytest.raises(SystemExit):
        with airlock.scope(executor=Recorder(), _cls=Interrupted):
            with airlock.scope():
                airlock.enqueue(send_email, 1)
    assert fates(events) == [("failed", "send_email(1)")]


def test_an_interrupt_in_should_flush_fails_every_intent_and_discards_the_scope(events):
    class Interrupted(airlock.Scope):
        def should_flush(self, error):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=Recorder(), _cls=Interrupted) as scope:
            airlock.enqueue(send_email, 1)
            airlock.enqueue(send_email, 2)
    assert scope.is_discarded  # settled, not left neither flushed nor discarded
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]
