"""Nested scopes: capture by the outermost, releasing ancestors, provenance, policies (§2.2)."""

from __future__ import annotations

import contextvars
import logging

import pytest

import airlock

from .conftest import notify, send_email


class Boom(Exception):
    pass


class Releasing(airlock.Scope):
    """Lets descendants flush on their own."""

    def before_descendant_flushes(self, exiting_scope, intents):
        return intents


class ReleasesNotify(airlock.Scope):
    """Lets descendants dispatch ``notify`` themselves, captures everything else."""

    def before_descendant_flushes(self, exiting_scope, intents):
        return [i for i in intents if i.name == "notify"]


def test_three_deep_everything_is_captured_by_the_outermost_by_default(recorder):
    with airlock.scope(executor=recorder) as outer:
        airlock.enqueue(send_email, "outer")
        with airlock.scope(executor=recorder) as middle:
            airlock.enqueue(send_email, "middle")
            with airlock.scope(executor=recorder) as inner:
                airlock.enqueue(send_email, "inner")
            assert inner.is_flushed and inner.dispatched == []
            assert recorder.intents == []
        assert middle.is_flushed and middle.dispatched == []
        assert recorder.intents == []
    assert recorder.calls == [
        "send_email('outer')", "send_email('middle')", "send_email('inner')"]
    assert outer.dispatched == recorder.intents


def test_provenance_own_and_captured_intents_three_deep(recorder):
    with airlock.scope(executor=recorder) as outer:
        a = airlock.enqueue(send_email, "a")
        with airlock.scope(executor=recorder) as middle:
            b = airlock.enqueue(send_email, "b")
            with airlock.scope(executor=recorder) as inner:
                c = airlock.enqueue(send_email, "c")
                assert inner.own_intents == [c] and inner.captured_intents == []
            assert middle.own_intents == [b]
            assert middle.captured_intents == [c]
            assert middle.intents == [b, c]
        d = airlock.enqueue(send_email, "d")
        assert outer.own_intents == [a, d]
        assert outer.captured_intents == [b, c]
        assert outer.intents == [a, b, c, d]
    assert recorder.intents == [a, b, c, d]


def test_capture_events_name_the_child_scope_the_intent_came_from(events, recorder):
    with airlock.scope(executor=recorder):
        with airlock.scope(executor=recorder) as middle:
            with airlock.scope(executor=recorder) as inner:
                airlock.enqueue(send_email)
    captured = [(intent, detail) for event, intent, detail in events if event == "captured"]
    assert captured == [("send_email()", inner), ("send_email()", middle)]


def test_a_releasing_scope_class_lets_every_child_flush_independently(recorder):
    with airlock.scope(executor=recorder, _cls=Releasing) as outer:
        with airlock.scope(executor=recorder, _cls=Releasing) as middle:
            with airlock.scope(executor=recorder) as inner:
                airlock.enqueue(send_email, "inner")
            assert recorder.calls == ["send_email('inner')"]
            assert inner.dispatched == recorder.intents
            airlock.enqueue(send_email, "middle")
        assert recorder.calls == ["send_email('inner')", "send_email('middle')"]
        assert outer.captured_intents == [] and middle.captured_intents == []
        airlock.enqueue(send_email, "outer")
    assert recorder.calls[-1] == "send_email('outer')"


def test_a_selective_ancestor_splits_a_childs_intents(recorder):
    with airlock.scope(executor=recorder, _cls=ReleasesNotify) as outer:
        with airlock.scope(executor=recorder) as inner:
            airlock.enqueue(send_email, 1)
            airlock.enqueue(notify, 2)
            airlock.enqueue(send_email, 3)
        assert recorder.calls == ["notify(2)"]
        assert inner.dispatched == recorder.intents
        assert [str(i) for i in outer.captured_intents] == ["send_email(1)", "send_email(3)"]
    assert recorder.calls == ["notify(2)", "send_email(1)", "send_email(3)"]


def test_ancestors_are_asked_innermost_first_and_only_about_what_is_still_unclaimed(recorder):
    asked = []

    class Asking(ReleasesNotify):
        def before_descendant_flushes(self, exiting_scope, intents):
            asked.append((self.label, [str(i) for i in intents]))
            return super().before_descendant_flushes(exiting_scope, intents)

    outer = Asking(executor=recorder)
    outer.label = "outer"
    middle = Asking(executor=recorder)
    middle.label = "middle"
    with outer:
        with middle:
            with airlock.scope(executor=recorder):
                airlock.enqueue(send_email, 1)
                airlock.enqueue(notify, 2)
            # the middle scope released notify(2), the outer one released it too
            assert asked == [
                ("middle", ["send_email(1)", "notify(2)"]), ("outer", ["notify(2)"])]
            assert recorder.calls == ["notify(2)"]
            assert [str(i) for i in middle.captured_intents] == ["send_email(1)"]
        assert asked[-1] == ("outer", ["send_email(1)"])
        assert [str(i) for i in outer.captured_intents] == ["send_email(1)"]
    assert recorder.calls == ["notify(2)", "send_email(1)"]


def test_a_releasing_middle_under_a_default_outer_still_ends_in_the_outer(recorder):
    with airlock.scope(executor=recorder) as outer:
        with airlock.scope(executor=recorder, _cls=Releasing):
            with airlock.scope(executor=recorder):
                airlock.enqueue(send_email)
        assert recorder.intents == []
        assert [str(i) for i in outer.captured_intents] == ["send_email()"]
    assert recorder.calls == ["send_email()"]


def test_captured_intents_keep_their_local_policies_and_fifo_order(recorder):
    block = airlock.BlockTasks({"notify"})
    with airlock.scope(executor=recorder) as outer:
        airlock.enqueue(send_email, 1)
        with airlock.scope(executor=recorder):
            with airlock.policy(block):
                airlock.enqueue(notify, 2)
                airlock.enqueue(send_email, 3)
            airlock.enqueue(notify, 4)
        airlock.enqueue(send_email, 5)
        captured = outer.captured_intents
        assert [i.local_policies for i in captured] == [(block,), (block,), ()]
    assert recorder.calls == ["send_email(1)", "send_email(3)", "notify(4)", "send_email(5)"]
    assert [(str(i), reason) for i, reason in outer.dropped] == [("notify(2)", block)]


@pytest.mark.parametrize(
    ("inner_policy", "expected"),
    [
        (airlock.DropAll(), ["send_email('outer')"]),
        (airlock.BlockTasks({"notify"}), ["send_email('outer')", "send_email('inner')"]),
    ],
)
def test_an_inner_scope_policy_still_holds_when_the_outer_scope_captures(
    recorder, inner_policy, expected
):
    with airlock.scope(executor=recorder):
        airlock.enqueue(send_email, "outer")
        with airlock.scope(inner_policy, executor=recorder) as inner:
            airlock.enqueue(send_email, "inner")
            airlock.enqueue(notify, "inner")
        assert all(reason is inner_policy for _, reason in inner.dropped)
    assert recorder.calls == expected


def test_a_middle_scope_policy_applies_to_what_it_captured_from_below(recorder):
    with airlock.scope(executor=recorder):
        with airlock.scope(airlock.BlockTasks({"notify"}), executor=recorder) as middle:
            with airlock.scope(executor=recorder):
                airlock.enqueue(notify, 1)
                airlock.enqueue(send_email, 2)
        assert [str(i) for i, _ in middle.dropped] == ["notify(1)"]
    assert recorder.calls == ["send_email(2)"]


def test_the_outermost_policy_applies_to_captured_intents(recorder):
    with airlock.scope(airlock.BlockTasks({"notify"}), executor=recorder):
        with airlock.scope(executor=recorder):
            airlock.enqueue(notify)
            airlock.enqueue(send_email)
    assert recorder.calls == ["send_email()"]


def test_an_outer_assert_no_effects_catches_code_that_opens_its_own_scope(recorder):
    with airlock.scope(airlock.AssertNoEffects(), executor=recorder) as outer:
        with airlock.scope(executor=recorder) as inner:
            with pytest.raises(airlock.PolicyViolation, match="no side effects"):
                airlock.enqueue(send_email)
            assert inner.intents == []
    assert recorder.intents == [] and outer.dropped == []


def test_every_enclosing_policy_sees_the_intent_at_enqueue_innermost_first(recorder):
    seen = []

    class Watch(airlock.AllowAll):
        def __init__(self, label):
            self.label = label

        def on_enqueue(self, intent):
            seen.append(self.label)

    with airlock.scope(Watch("outer"), executor=recorder):
        with airlock.scope(executor=recorder):
            with airlock.scope(Watch("inner"), executor=recorder):
                with airlock.policy(Watch("local")):
                    airlock.enqueue(send_email)
    assert seen == ["local", "inner", "outer"]


def test_a_discarded_inner_scope_is_not_captured(recorder):
    with airlock.scope(executor=recorder):
        airlock.enqueue(send_email, 1)
        with pytest.raises(Boom), airlock.scope(executor=recorder) as inner:
            airlock.enqueue(send_email, 2)
            raise Boom
        assert inner.is_discarded
    assert recorder.calls == ["send_email(1)"]


def test_an_outer_discard_drops_what_it_captured(recorder):
    with pytest.raises(Boom), airlock.scope(executor=recorder) as outer:
        with airlock.scope(executor=recorder):
            airlock.enqueue(send_email)
        raise Boom
    assert outer.is_discarded and recorder.intents == []


def test_a_child_whose_parent_already_finished_skips_it_and_captures_into_the_grandparent(
    recorder,
):
    with airlock.scope(executor=recorder) as outer:
        with airlock.scope(executor=recorder) as middle:
            inside_middle = contextvars.copy_context()
        assert middle.is_flushed

        def late_child():
            with airlock.scope(executor=recorder) as child:
                assert child.parent is middle
                assert list(child.ancestors()) == [outer]
                airlock.enqueue(send_email)

        inside_middle.run(late_child)
        assert [str(i) for i in outer.captured_intents] == ["send_email()"]
        assert middle.captured_intents == []
    assert recorder.calls == ["send_email()"]


def test_a_child_whose_only_ancestor_finished_flushes_itself_instead_of_losing_intents(
    recorder,
):
    with airlock.scope(executor=recorder) as request:
        inside_request = contextvars.copy_context()

    def background_job():
        with airlock.scope(executor=recorder) as job:
            airlock.enqueue(send_email, "late")
        return job

    job = inside_request.run(background_job)
    assert recorder.calls == ["send_email('late')"]
    assert job.dispatched == recorder.intents
    assert request.captured_intents == [] and request.is_flushed


def test_released_intents_still_pass_the_local_policies_of_the_child(recorder):
    with airlock.scope(executor=recorder, _cls=Releasing):
        with airlock.scope(executor=recorder) as inner:
            with airlock.policy(airlock.DropAll()):
                airlock.enqueue(notify)
            airlock.enqueue(send_email)
        assert recorder.calls == ["send_email()"]
        assert [str(i) for i, _ in inner.dropped] == ["notify()"]


def test_a_childs_policy_is_asked_once_per_intent_even_when_an_ancestor_releases(
    recorder, caplog
):
    with caplog.at_level(logging.INFO, logger="airlock"):
        with airlock.scope(executor=recorder, _cls=Releasing):
            with airlock.scope(airlock.LogOnFlush(), executor=recorder):
                airlock.enqueue(send_email, 1)
    assert recorder.calls == ["send_email(1)"]
    assert [r.getMessage() for r in caplog.records].count(
        f"airlock: dispatching {recorder.intents[0]!r}") == 1


def test_a_child_policy_that_drops_is_checked_before_ancestors_are_asked(recorder):
    asked = []

    class Spy(airlock.Scope):
        def before_descendant_flushes(self, exiting_scope, intents):
            asked.extend(str(i) for i in intents)
            return []

    with airlock.scope(executor=recorder, _cls=Spy):
        with airlock.scope(airlock.BlockTasks({"notify"}), executor=recorder):
            airlock.enqueue(notify)
            airlock.enqueue(send_email)
    assert asked == ["send_email()"]


def test_a_finished_ancestors_policy_no_longer_watches_enqueues(recorder):
    with airlock.scope(airlock.AssertNoEffects(), executor=recorder):
        inside_request = contextvars.copy_context()

    def background_job():
        with airlock.scope(executor=recorder):
            airlock.enqueue(send_email, "late")  # the finished request scope is absent

    inside_request.run(background_job)
    assert recorder.calls == ["send_email('late')"]


def test_intents_and_provenance_stay_readable_once_flushed(recorder):
    with airlock.scope(executor=recorder) as outer:
        first = airlock.enqueue(send_email, 1)
        with airlock.scope(executor=recorder) as inner:
            second = airlock.enqueue(send_email, 2)
    assert (outer.intents, outer.own_intents, outer.captured_intents) == (
        [first, second], [first], [second])
    assert inner.intents == [second] and inner.dispatched == []
    assert outer.dispatched == recorder.intents and len(recorder.intents) == 2
