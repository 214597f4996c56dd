"""Idempotency keys: duplicates in one scope, own or captured, collapse to the first (§2.3)."""

from __future__ import annotations

import airlock

from .conftest import Recorder, notify, send_email


def test_duplicate_keys_collapse_to_the_first_and_the_rest_are_visible_as_dropped(events):
    recorder = Recorder()
    with airlock.scope(executor=recorder) as scope:
        first = airlock.enqueue(send_email, 1, _key="order-7")
        second = airlock.enqueue(send_email, 2, _key="order-7")
        other = airlock.enqueue(notify, _key="other")
        assert scope.intents == [first, other]
        assert scope.dropped == [(second, "duplicate key")]
    assert recorder.intents == [first, other]
    assert ("dropped", "send_email(2)", "duplicate key") in events


def test_a_dropped_duplicate_is_still_returned_with_its_own_id():
    with airlock.scope(executor=Recorder()):
        first = airlock.enqueue(send_email, _key="k")
        second = airlock.enqueue(send_email, _key="k")
    assert second.key == "k" and second.id != first.id


def test_intents_without_keys_never_collapse():
    recorder = Recorder()
    with airlock.scope(executor=recorder):
        airlock.enqueue(send_email, 1)
        airlock.enqueue(send_email, 1)
    assert recorder.calls == ["send_email(1)", "send_email(1)"]


def test_captured_duplicates_collapse_to_the_first_in_the_outer_scope():
    recorder = Recorder()
    with airlock.scope(executor=recorder) as outer:
        first = airlock.enqueue(send_email, "outer", _key="k")
        with airlock.scope(executor=recorder):
            late = airlock.enqueue(send_email, "inner", _key="k")  # first in the inner scope
            kept = airlock.enqueue(notify, _key="n")
        assert outer.dropped == [(late, "duplicate key")]
        assert outer.intents == [first, kept]
    assert recorder.calls == ["send_email('outer')", "notify()"]


def test_the_outer_scope_keeps_a_captured_key_and_drops_its_own_later_duplicate():
    recorder = Recorder()
    with airlock.scope(executor=recorder) as outer:
        with airlock.scope(executor=recorder):
            first = airlock.enqueue(send_email, "inner", _key="k")
        late = airlock.enqueue(send_email, "outer", _key="k")
        assert outer.dropped == [(late, "duplicate key")]
    assert recorder.intents == [first]


def test_the_same_key_in_separate_scopes_dispatches_in_each():
    recorder = Recorder()
    for _ in range(2):
        with airlock.scope(executor=recorder):
            airlock.enqueue(send_email, _key="k")
    assert len(recorder.intents) == 2


def test_the_first_of_a_key_wins_even_if_a_policy_later_drops_it():
    recorder = Recorder()
    with airlock.scope(executor=recorder) as scope:
        with airlock.policy(airlock.DropAll()):
            airlock.enqueue(send_email, 1, _key="k")
        airlock.enqueue(send_email, 2, _key="k")
    assert recorder.intents == []
    assert [reason for _, reason in scope.dropped] == ["duplicate key", scope.dropped[1][1]]
    assert isinstance(scope.dropped[1][1], airlock.DropAll)


def test_a_key_refused_at_enqueue_does_not_block_a_later_one():
    recorder = Recorder()
    with airlock.scope(airlock.BlockTasks({"notify"}, raise_on_enqueue=True), executor=recorder):
        try:
            airlock.enqueue(notify, _key="k")
        except airlock.PolicyViolation:
            pass
        kept = airlock.enqueue(send_email, _key="k")
    assert recorder.intents == [kept]


def test_a_discarded_inner_scope_does_not_reserve_its_keys_in_the_outer():
    recorder = Recorder()
    with airlock.scope(executor=recorder):
        try:
            with airlock.scope(executor=recorder):
                airlock.enqueue(send_email, "discarded", _key="k")
                raise ValueError
        except ValueError:
            pass
        kept = airlock.enqueue(send_email, "kept", _key="k")
    assert recorder.intents == [kept]
