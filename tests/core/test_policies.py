"""Built-in policies, duck-typed policies and local policy blocks (SPEC §2, §2.4)."""

from __future__ import annotations

import logging
import types

import pytest

import airlock
from airlock.exceptions import PolicyEnqueueError, PolicyViolation

from .conftest import Recorder, notify, send_email


def run(policy, *tasks):
    """Enqueue each task in a scope with ``policy``; return (dispatched calls, scope)."""
    recorder = Recorder()
    with airlock.scope(policy, executor=recorder) as scope:
        for task in tasks:
            airlock.enqueue(task)
    return recorder.calls, scope


def test_allow_all_lets_everything_through():
    calls, scope = run(airlock.AllowAll(), send_email, notify)
    assert calls == ["send_email()", "notify()"] and scope.dropped == []


def test_drop_all_drops_everything_at_flush_and_records_why():
    policy = airlock.DropAll()
    calls, scope = run(policy, send_email, notify)
    assert calls == []
    assert [(str(i), reason) for i, reason in scope.dropped] == [
        ("send_email()", policy), ("notify()", policy)]


def test_drop_all_still_buffers_so_code_under_it_sees_its_intents():
    with airlock.scope(airlock.DropAll(), executor=Recorder()) as scope:
        intent = airlock.enqueue(send_email)
        assert scope.intents == [intent]


def test_assert_no_effects_raises_at_enqueue_and_does_not_buffer(events):
    with airlock.scope(airlock.AssertNoEffects(), executor=Recorder()) as scope:
        with pytest.raises(PolicyViolation, match=r"AssertNoEffects: send_email\(1\).*remove"):
            airlock.enqueue(send_email, 1)
        assert scope.intents == []
    assert scope.dispatched == [] and scope.dropped == []
    assert [event for event, *_ in events] == []


def test_block_tasks_drops_blocked_names_at_flush_by_default():
    policy = airlock.BlockTasks({"notify"})
    calls, scope = run(policy, send_email, notify)
    assert calls == ["send_email()"]
    assert [(str(i), reason) for i, reason in scope.dropped] == [("notify()", policy)]


def test_block_tasks_with_raise_on_enqueue_refuses_at_enqueue_and_keeps_the_rest():
    policy = airlock.BlockTasks(["notify"], raise_on_enqueue=True)
    recorder = Recorder()
    with airlock.scope(policy, executor=recorder) as scope:
        airlock.enqueue(send_email)
        with pytest.raises(PolicyViolation, match=r"BlockTasks: 'notify' is blocked"):
            airlock.enqueue(notify)
        assert len(scope.intents) == 1
    assert recorder.calls == ["send_email()"]


def test_block_tasks_matches_short_name_qualified_name_given_name_and_task_name():
    module_path = f"{send_email.__module__}.{send_email.__qualname__}"

    class CeleryLikeTask:
        name = "proj.tasks.charge"

        def __call__(self):
            pass

    charge = CeleryLikeTask()
    for names, task, enqueue_kwargs in [
        ("send_email", send_email, {}),
        (module_path, send_email, {}),
        ("renamed", send_email, {"_name": "renamed"}),
        ("charge", charge, {}),
        ("proj.tasks.charge", charge, {}),
    ]:
        with airlock.scope(airlock.BlockTasks(names), executor=Recorder()) as scope:
            airlock.enqueue(task, **enqueue_kwargs)
        assert scope.dispatched == [], names


def test_block_tasks_accepts_a_single_name_string():
    assert airlock.BlockTasks("notify").names == frozenset({"notify"})


def test_log_on_flush_logs_each_intent_it_allows(caplog):
    with caplog.at_level(logging.INFO, logger="airlock"):
        calls, scope = run(airlock.LogOnFlush(), send_email, notify)
    assert calls == ["send_email()", "notify()"]
    messages = [r.getMessage() for r in caplog.records if r.name == "airlock"]
    assert messages == [f"airlock: dispatching {i!r}" for i in scope.dispatched]


def test_log_on_flush_uses_the_logger_it_is_given(caplog):
    logger = logging.getLogger("shop.effects")
    with caplog.at_level(logging.INFO, logger="shop.effects"):
        run(airlock.LogOnFlush(logger), send_email)
    assert [r.name for r in caplog.records] == ["shop.effects"]


def test_log_on_flush_logs_nothing_for_intents_dropped_before_it(caplog):
    with caplog.at_level(logging.INFO, logger="airlock"):
        with airlock.scope(airlock.LogOnFlush(), executor=Recorder()):
            with airlock.policy(airlock.DropAll()):
                airlock.enqueue(send_email)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (airlock.AllowAll(), "AllowAll()"),
        (airlock.DropAll(), "DropAll()"),
        (airlock.AssertNoEffects(), "AssertNoEffects()"),
        (airlock.BlockTasks({"b", "a"}), "BlockTasks(['a', 'b'])"),
        (airlock.BlockTasks("a", raise_on_enqueue=True),
         "BlockTasks(['a'], raise_on_enqueue=True)"),
        (airlock.LogOnFlush(), "LogOnFlush(logger='airlock')"),
    ],
)
def test_policies_have_readable_reprs(policy, text):
    assert repr(policy) == text
    assert isinstance(policy, airlock.Policy)


def test_any_object_with_both_methods_is_a_policy_no_base_class_needed():
    class OnlyOdd:
        def on_enqueue(self, intent):
            pass

        def allows(self, intent):
            return intent.args[0] % 2 == 1

    recorder = Recorder()
    with airlock.scope(OnlyOdd(), executor=recorder):
        for n in range(4):
            airlock.enqueue(send_email, n)
    assert recorder.calls == ["send_email(1)", "send_email(3)"]


def test_a_policy_whose_methods_live_on_the_instance_works():
    seen = []
    policy = types.SimpleNamespace(on_enqueue=seen.append, allows=lambda intent: False)
    calls, _ = run(policy, send_email)
    assert calls == [] and len(seen) == 1


def test_a_non_policy_is_a_type_error_naming_the_methods_it_needs():
    with pytest.raises(TypeError, match=r"not a policy.*on_enqueue\(intent\) and allows\(intent\)"):
        airlock.scope(object())
    with pytest.raises(TypeError, match=r"DropAll is a class; pass a policy instance: DropAll\(\)"):
        airlock.policy(airlock.DropAll)


def test_a_non_callable_executor_is_a_type_error_at_scope_creation():
    with pytest.raises(TypeError, match=r"not callable: an executor is a callable executor\("):
        airlock.scope(executor=42)


def test_scope_takes_dotted_paths_like_configure():
    from airlock.integrations.executors.sync import sync_executor

    path = "airlock.integrations.executors.sync.sync_executor"
    scope = airlock.scope("airlock.DropAll", executor=path)
    assert type(scope.policy) is airlock.DropAll and scope.executor is sync_executor
    with pytest.raises(ImportError, match="has no 'nope'"):
        airlock.scope(executor="airlock.integrations.executors.sync.nope")


def test_on_enqueue_sees_each_intent_once_before_it_is_buffered():
    seen = []

    class Spy(airlock.AllowAll):
        def on_enqueue(self, intent):
            seen.append((str(intent), list(airlock.get_current_scope().intents)))

    with airlock.scope(Spy(), executor=Recorder()):
        airlock.enqueue(send_email, 1)
        airlock.enqueue(send_email, 2)
    assert [s for s, _ in seen] == ["send_email(1)", "send_email(2)"]
    assert [len(buffered) for _, buffered in seen] == [0, 1]


def test_allows_is_called_once_per_intent_in_fifo_order():
    asked = []

    class Spy(airlock.AllowAll):
        def allows(self, intent):
            asked.append(str(intent))
            return True

    run(Spy(), send_email, notify, send_email)
    assert asked == ["send_email()", "notify()", "send_email()"]


# -- local policies -------------------------------------------------------------------------


def test_a_local_policy_applies_only_to_intents_enqueued_inside_it():
    recorder = Recorder()
    with airlock.scope(executor=recorder) as scope:
        airlock.enqueue(send_email, "before")
        with airlock.policy(airlock.DropAll()) as entered:
            assert isinstance(entered, airlock.DropAll)
            inside = airlock.enqueue(send_email, "inside")
            assert airlock.get_current_scope() is scope  # a policy block creates no buffer
        airlock.enqueue(send_email, "after")
        assert scope.intents[1] is inside and inside.local_policies == (entered,)
    assert recorder.calls == ["send_email('before')", "send_email('after')"]
    assert [(str(i), reason) for i, reason in scope.dropped] == [("send_email('inside')", entered)]


def test_local_policies_nest_and_are_checked_innermost_first():
    asked = []

    class Spy(airlock.AllowAll):
        def __init__(self, label, verdict=True):
            self.label, self.verdict = label, verdict

        def allows(self, intent):
            asked.append(self.label)
            return self.verdict

    outer, middle, inner = Spy("outer"), Spy("middle", verdict=False), Spy("inner")
    recorder = Recorder()
    with airlock.scope(executor=recorder) as scope:
        with airlock.policy(outer):
            with airlock.policy(middle):
                with airlock.policy(inner):
                    intent = airlock.enqueue(send_email)
            kept = airlock.enqueue(notify)
    assert intent.local_policies == (inner, middle, outer)
    assert kept.local_policies == (outer,)
    assert asked == ["inner", "middle", "outer"]  # stops at the first no; notify asks outer only
    assert recorder.calls == ["notify()"]
    assert scope.dropped == [(intent, middle)]


def test_nested_block_tasks_local_policies_combine():
    recorder = Recorder()
    with airlock.scope(executor=recorder):
        with airlock.policy(airlock.BlockTasks({"notify"})):
            with airlock.policy(airlock.BlockTasks({"send_email"})):
                airlock.enqueue(send_email)
                airlock.enqueue(notify)
                airlock.enqueue(print)
    assert recorder.calls == ["print()"]


def test_a_local_policy_reaches_into_scopes_opened_inside_it():
    recorder = Recorder()
    block = airlock.BlockTasks({"notify"})
    with airlock.scope(executor=recorder):
        with airlock.policy(block):
            with airlock.scope(executor=recorder):
                with airlock.scope(executor=recorder):
                    blocked = airlock.enqueue(notify)
                    airlock.enqueue(send_email)
    assert blocked.local_policies == (block,)
    assert recorder.calls == ["send_email()"]


def test_a_local_policy_opened_outside_any_scope_reaches_the_scope_opened_inside_it():
    recorder = Recorder()
    with airlock.policy(airlock.DropAll()):
        with airlock.scope(executor=recorder):
            airlock.enqueue(send_email)
    assert recorder.calls == []


def test_local_policies_inside_nested_scopes_travel_with_captured_intents():
    recorder = Recorder()
    with airlock.scope(executor=recorder) as outer:
        with airlock.policy(airlock.BlockTasks({"notify"})):
            with airlock.scope(executor=recorder):
                with airlock.policy(airlock.BlockTasks({"print"})):
                    airlock.enqueue(print)
                    airlock.enqueue(notify)
                    airlock.enqueue(send_email)
        assert len(outer.captured_intents) == 3  # judged where they dispatch
    assert recorder.calls == ["send_email()"]


def test_a_local_policy_on_enqueue_can_refuse_an_intent():
    with airlock.scope(executor=Recorder()) as scope:
        with airlock.policy(airlock.AssertNoEffects()):
            with pytest.raises(PolicyViolation):
                airlock.enqueue(send_email)
        assert scope.intents == []


def test_a_local_policy_block_cannot_be_opened_inside_a_policy_callback():
    class OpensPolicy(airlock.AllowAll):
        def on_enqueue(self, intent):
            with airlock.policy(airlock.AllowAll()):
                pass

    with airlock.scope(OpensPolicy(), executor=Recorder()):
        with pytest.raises(PolicyEnqueueError, match="policy callback"):
            airlock.enqueue(send_email)


async def test_local_policy_blocks_work_with_async_with():
    recorder = Recorder()
    async with airlock.scope(executor=recorder):
        async with airlock.policy(airlock.DropAll()):
            airlock.enqueue(send_email)
        airlock.enqueue(notify)
    assert recorder.calls == ["notify()"]


def test_the_local_policy_block_ends_even_when_an_error_passes_through_it():
    with pytest.raises(ValueError), airlock.scope(executor=Recorder()) as scope:
        with airlock.policy(airlock.DropAll()):
            raise ValueError
    assert scope.is_discarded and airlock.get_current_scope() is None
