"""A finished scope still says what it held and what became of it (SPEC 2.2).

``intents`` (and ``own_intents``, ``captured_intents``) is what the scope held when it
decided; ``dispatched``, ``dropped`` and ``failed`` say what became of each.
"""

from __future__ import annotations

import pytest

import airlock
from airlock.exceptions import DispatchError

from .conftest import Recorder, notify, send_email


def test_intents_stay_readable_after_a_flush(recorder):
    with airlock.scope(executor=recorder) as scope:
        first = airlock.enqueue(send_email, 1)
        second = airlock.enqueue(notify, 2)
    assert scope.is_flushed
    assert scope.intents == [first, second] == scope.own_intents
    assert scope.dispatched == [first, second]


def test_a_dry_run_with_drop_all_is_tested_by_reading_intents_afterwards(recorder):
    with airlock.scope(policy=airlock.DropAll(), executor=recorder) as scope:
        intent = airlock.enqueue(send_email, 1)
    assert scope.intents == [intent]
    assert [i for i, _ in scope.dropped] == [intent] and recorder.intents == []


def test_intents_stay_readable_after_a_discard(recorder):
    with pytest.raises(ValueError), airlock.scope(executor=recorder) as scope:
        intent = airlock.enqueue(send_email, 1)
        raise ValueError("the unit of work failed")
    assert scope.is_discarded
    assert scope.intents == [intent] and recorder.intents == []


def test_intents_stay_readable_after_a_failed_flush():
    with pytest.raises(DispatchError), airlock.scope(executor=Recorder(fail_on=1)) as scope:
        intent = airlock.enqueue(send_email, 1)
    assert scope.intents == [intent] and [i for i, _ in scope.failed] == [intent]


def test_captured_and_own_intents_stay_readable_after_the_outer_scope_finished(recorder):
    with airlock.scope(executor=recorder) as outer:
        own = airlock.enqueue(send_email, 1)
        with airlock.scope() as inner:
            captured = airlock.enqueue(notify, 2)
    assert outer.intents == [own, captured]
    assert outer.own_intents == [own] and outer.captured_intents == [captured]
    assert inner.intents == [captured]  # the inner scope held it before handing it over


def test_a_finished_scope_returns_copies_that_callers_cannot_change(recorder):
    with airlock.scope(executor=recorder) as scope:
        airlock.enqueue(send_email, 1)
    scope.intents.clear()
    assert len(scope.intents) == 1
