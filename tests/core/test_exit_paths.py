"""How ``with`` ends a scope, and what a unit of work holds once it has ended.

A scope entered with nothing to link (no enclosing scope, the default policy) on the
configured executor takes the plain way: its first intent goes straight into the buffer and
its exit sends the buffer as it is. Anything that needs judging (a local policy, a captured
intent, a pinned executor) and any class that overrides a step of the exit takes the general
way. Each test here checks that the two ways agree.
"""

from __future__ import annotations

import pytest

import airlock
from airlock import _events
from airlock.exceptions import ScopeStateError
from airlock.testing import capture
from tests.failures import raises_dispatch

from .conftest import Recorder, notify, send_email


class Plain:
    """An executor without ``after_flush`` (the engine's one-call-one-send way)."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on

    def __call__(self, intent: airlock.Intent) -> None:
        if str(intent) == self.fail_on:
            raise RuntimeError(f"refused {intent}")
        self.calls.append(str(intent))


class Falsy(Plain):
    """An executor that is falsy (a queue wrapper with ``__len__``): still the executor."""

    def __len__(self) -> int:
        return 0


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "given"])
def test_both_ways_send_the_same_and_report_the_same(configured, events):
    executor = Plain()
    if configured:
        airlock.configure(executor=executor)
    with airlock.scope(**({} if configured else {"executor": executor})) as scope:
        first = airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert executor.calls == ["send_email(1)", "notify(2)"]
    assert scope.dispatched == scope.intents and scope.intents[0] is first
    assert [e for e, *_ in events] == ["enqueued", "enqueued", "dispatched", "dispatched"]


def test_an_executor_failing_on_the_plain_way_fails_fast_and_names_what_was_not_sent():
    executor = Plain(fail_on="notify(2)")
    airlock.configure(executor=executor)
    with raises_dispatch(RuntimeError, "refused notify") as error, airlock.scope() as scope:
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
        airlock.enqueue(notify, 3)
    assert executor.calls == ["send_email(1)"]
    assert [str(i) for i in scope.dispatched] == ["send_email(1)"]
    assert [str(i) for i, _ in scope.failed] == ["notify(2)", "notify(3)"]
    assert [str(i) for i in error.value.unsent] == ["notify(3)"]


def test_a_local_policy_inside_a_plain_scope_is_still_asked_at_flush():
    executor = Plain()
    airlock.configure(executor=executor)
    with airlock.scope() as scope:
        airlock.enqueue(send_email, 1)
        with airlock.policy(airlock.BlockTasks({"notify"})):
            airlock.enqueue(notify, 2)
    assert executor.calls == ["send_email(1)"]
    assert [str(i) for i, _ in scope.dropped] == ["notify(2)"]


def test_an_intent_captured_into_a_plain_scope_keeps_its_childs_executor():
    configured, dry_run = Plain(), Plain()
    airlock.configure(executor=configured)
    with airlock.scope():
        airlock.enqueue(send_email, 1)
        with airlock.scope(executor=dry_run):
            airlock.enqueue(notify, 2)
    assert configured.calls == ["send_email(1)"]
    assert dry_run.calls == ["notify(2)"]


def test_the_configured_executor_is_the_one_configured_when_the_first_intent_came():
    before, after = Plain(), Plain()
    airlock.configure(executor=before)
    with airlock.scope():
        airlock.configure(executor=after)  # e.g. testing.capture() inside an ambient scope
        airlock.enqueue(notify, 1)
        airlock.configure(executor=before)  # fixed by the first intent: no longer followed
        airlock.enqueue(send_email, 2)
    assert after.calls == ["notify(1)", "send_email(2)"]
    assert before.calls == []


def test_capture_inside_a_scope_entered_before_it_runs_nothing():
    ran: list[int] = []
    with airlock.scope() as scope:  # as pytest --airlock-scope enters one around a test
        with capture() as captured:
            airlock.enqueue(ran.append, 1)
    # The scope flushed after the block (its intent was pending then), on null_executor.
    assert [r.fate for r in captured] == ["pending"]
    assert ran == [] and len(scope.dispatched) == 1


class Preparing(Plain):
    """An executor whose ``prepare`` stamps an option on each intent at enqueue."""

    def prepare(self, intent: airlock.Intent) -> airlock.Intent:
        return intent.replace(dispatch_options={**intent.dispatch_options, "stamped": True})

    def __call__(self, intent: airlock.Intent) -> None:
        assert intent.dispatch_options == {"stamped": True}
        super().__call__(intent)


def test_an_executor_configured_with_prepare_after_the_scope_was_entered_prepares_every_intent():
    executor = Preparing()
    with airlock.scope() as scope:  # entered on sync_executor, which prepares nothing
        airlock.configure(executor=executor)
        first = airlock.enqueue(send_email, 1)
        second = airlock.enqueue(notify, 2)
    assert first.dispatch_options == second.dispatch_options == {"stamped": True}
    assert scope.intents == [first, second] and executor.calls == ["send_email(1)", "notify(2)"]


class AuditMixin:
    """A ``settle`` from a mixin: it must see every fate, dispatched ones included."""

    seen: list[tuple[str, str]]

    def settle(self, intent, fate, detail):
        type(self).seen.append((str(intent), fate))
        super().settle(intent, fate, detail)  # type: ignore[misc]


class Audited(AuditMixin, airlock.Scope):
    seen: list[tuple[str, str]] = []


class AuditedBoth(airlock.Scope):
    seen: list[tuple[str, str]] = []

    def settle(self, intent, fate, detail):
        AuditedBoth.seen.append((str(intent), fate))
        super().settle(intent, fate, detail)

    def settle_all(self, intents, fate, detail):
        super().settle_all(intents, fate, detail)


@pytest.mark.parametrize("cls", [Audited, AuditedBoth], ids=["mixin", "settle_all-super"])
def test_a_settle_override_sees_every_fate(cls):
    cls.seen = []
    airlock.configure(executor=Plain())
    with airlock.scope(_cls=cls):
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert cls.seen == [("send_email(1)", "dispatched"), ("notify(2)", "dispatched")]


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "given"])
def test_an_on_buffered_hook_sees_and_may_refuse_the_first_intent_too(configured):
    seen: list[str] = []

    class Watching(airlock.Scope):
        def on_buffered(self, intent):
            if intent.args == (0,):
                raise ValueError("no zero")
            seen.append(str(intent))

    executor = Plain()
    if configured:
        airlock.configure(executor=executor)
    with airlock.scope(executor=None if configured else executor, _cls=Watching) as scope:
        with pytest.raises(ValueError, match="no zero"):
            airlock.enqueue(send_email, 0)
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert seen == ["send_email(1)", "notify(2)"]
    assert executor.calls == seen and [str(i) for i in scope.intents] == seen


class FlushCounts(airlock.Scope):
    flushes = 0

    def flush(self):
        FlushCounts.flushes += 1
        return super().flush()


class DispatchSorted(airlock.Scope):
    def dispatch(self, intents):
        super().dispatch(sorted(intents, key=lambda i: i.args))


class NeverFlush(airlock.Scope):
    def should_flush(self, error):
        return False


class Isolating(airlock.Scope):
    _isolate = True


def test_a_class_overriding_a_step_of_the_exit_has_it_called():
    executor = Plain(fail_on="send_email(1)")
    airlock.configure(executor=executor)
    FlushCounts.flushes = 0
    with airlock.scope(_cls=FlushCounts):
        airlock.enqueue(notify, 2)
    assert FlushCounts.flushes == 1
    with airlock.scope(_cls=DispatchSorted):
        airlock.enqueue(notify, 4)
        airlock.enqueue(notify, 3)
    with airlock.scope(_cls=NeverFlush) as never:
        airlock.enqueue(notify, 5)
    with airlock.scope(_cls=Isolating) as isolating:  # settles each alone: nothing raised
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 6)
    assert executor.calls == ["notify(2)", "notify(3)", "notify(4)", "notify(6)"]
    assert never.is_discarded and [str(i) for i, _ in isolating.failed] == ["send_email(1)"]


def test_a_recorder_with_after_flush_on_the_plain_way_gets_it_once():
    recorder = Recorder()
    airlock.configure(executor=recorder)
    with airlock.scope():
        airlock.enqueue(send_email, 1)
    assert recorder.calls == ["send_email(1)"] and recorder.after_flush_calls == 1


def test_a_child_captured_before_the_first_own_intent_stays_buffered_in_order(events):
    executor = Plain()
    airlock.configure(executor=executor)
    with airlock.scope() as outer:
        with airlock.scope():
            airlock.enqueue(notify, 1)
        airlock.enqueue(send_email, 2)  # the outer scope's first own intent: the direct way
        airlock.enqueue(send_email, 3)
    assert executor.calls == ["notify(1)", "send_email(2)", "send_email(3)"]
    assert [str(i) for i in outer.dispatched] == executor.calls
    assert sorted(e for e, *_ in events).count("dispatched") == 3


def test_a_scope_class_may_not_take_the_name_of_the_direct_path():
    with pytest.raises(TypeError, match=r"has a method append\(\).*another name"):

        class Appending(airlock.Scope):
            def append(self, intent):  # would be called for every enqueue
                pass


def test_a_class_that_writes_its_own_exit_keeps_it():
    exits = []

    class OwnExit(airlock.Scope):
        def should_flush(self, error):  # would pick the exit that calls it
            return True

        def __exit__(self, *exc):
            exits.append(exc[1])
            return airlock.Scope._exit_by_method(self, *exc)

    executor = Plain()
    with airlock.scope(executor=executor, _cls=OwnExit):
        airlock.enqueue(send_email, 1)
    assert exits == [None] and executor.calls == ["send_email(1)"]


def test_a_scope_made_by_scope_refuses_a_second_enter_in_every_state():
    airlock.configure(executor=Plain())
    for fill in (lambda: None, lambda: airlock.enqueue(send_email, 1)):
        scope = airlock.scope()
        with scope:
            fill()
            with pytest.raises(ScopeStateError, match="already entered"):
                scope.__enter__()
        with pytest.raises(ScopeStateError, match="already entered"):
            scope.__enter__()


def test_a_policy_set_on_a_scope_before_it_is_entered_is_asked():
    executor = Plain()
    airlock.configure(executor=executor)
    scope = airlock.scope()
    scope.policy = airlock.BlockTasks({"notify"})
    with scope:
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert executor.calls == ["send_email(1)"] and len(scope.dropped) == 1


class OwnExit(airlock.Scope):
    """A class that writes its own __exit__ and calls Scope's."""

    exits: list[str] = []

    def __exit__(self, *exc):
        OwnExit.exits.append(type(self).__name__)
        return super().__exit__(*exc)


class DryRunOwnExit(OwnExit):
    def should_flush(self, error):
        return False


class RoutingOwnExit(OwnExit):
    routed: list[str] = []

    def dispatch(self, intents):
        RoutingOwnExit.routed += [str(i) for i in intents]


def test_an_own_exit_calling_scopes_still_asks_the_classs_own_steps():
    executor = Plain()
    airlock.configure(executor=executor)
    OwnExit.exits, RoutingOwnExit.routed = [], []
    with airlock.scope(_cls=DryRunOwnExit) as dry:
        airlock.enqueue(send_email, 1)
    with airlock.scope(_cls=RoutingOwnExit):
        airlock.enqueue(notify, 2)
    assert dry.is_discarded and executor.calls == []
    assert RoutingOwnExit.routed == ["notify(2)"]
    assert OwnExit.exits == ["DryRunOwnExit", "RoutingOwnExit"]  # inherited: kept


def test_an_executor_property_override_is_the_executor():
    mine = Plain()

    class Mine(airlock.Scope):
        @property
        def executor(self):
            return mine

    airlock.configure(executor=Plain())
    with airlock.scope(_cls=Mine):
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert mine.calls == ["send_email(1)", "notify(2)"]


def test_an_append_from_a_mixin_is_refused_too():
    class LogMixin:
        def append(self, item):
            pass

    with pytest.raises(TypeError, match=r"has a method append\(\)"):

        class Logged(LogMixin, airlock.Scope):
            pass


@pytest.mark.parametrize("first", ["key", "options", "listener"])
def test_an_executor_fixed_by_a_first_intent_on_the_general_way_stays_fixed(first):
    fixed, later = Plain(), Plain()
    airlock.configure(executor=fixed)
    with airlock.scope() as scope:
        if first == "key":
            airlock.enqueue(send_email, 1, _key="k")
        elif first == "options":
            airlock.enqueue(send_email, 1, _dispatch_options={"queue": "mail"})
        else:
            unsubscribe = _events.subscribe(lambda *event: None)
            airlock.enqueue(send_email, 1)
            unsubscribe()
        airlock.configure(executor=later)  # as testing.capture() does for its block
        airlock.enqueue(notify, 2)  # the direct way: must not fix the executor again
    assert fixed.calls == ["send_email(1)", "notify(2)"] and later.calls == []
    assert len(scope.dispatched) == 2


def test_a_policy_set_after_entering_is_asked_at_flush():
    executor = Plain()
    airlock.configure(executor=executor)
    with airlock.scope() as scope:
        airlock.enqueue(send_email, 1)
        scope.policy = airlock.DropAll()
    assert executor.calls == [] and len(scope.dropped) == 1


def test_a_subclass_that_sets_its_policy_in_enter_has_it_asked():
    class DryRun(airlock.Scope):
        def enter(self):
            super().enter()
            self.policy = airlock.DropAll()
            return self

    ran: list[int] = []

    @airlock.scoped(_cls=DryRun)
    def work() -> None:
        airlock.enqueue(ran.append, 2)

    work()
    assert ran == []


def test_a_policy_in_a_class_body_is_the_scopes_policy():
    class Blocking(airlock.Scope):
        policy = airlock.BlockTasks({"notify"})

    executor = Plain()
    airlock.configure(executor=executor)
    with airlock.scope(_cls=Blocking) as scope:
        airlock.enqueue(send_email, 1)
        airlock.enqueue(notify, 2)
    assert executor.calls == ["send_email(1)"]
    assert isinstance(scope.policy, airlock.BlockTasks) and len(scope.dropped) == 1


def test_reading_the_executor_before_the_first_intent_fixes_it():
    before, after = Plain(), Plain()
    airlock.configure(executor=before)
    with airlock.scope() as scope:
        assert scope.executor is before
        airlock.configure(executor=after)
        airlock.enqueue(send_email, 1)
        assert scope.executor is before
    assert before.calls == ["send_email(1)"] and after.calls == []


def test_a_hook_refusing_the_first_intent_leaves_the_executor_fixed():
    class Refusing(airlock.Scope):
        def on_buffered(self, intent):
            if intent.args == (0,):
                raise ValueError("no zero")

    before, after = Plain(), Plain()
    airlock.configure(executor=before)
    with airlock.scope(_cls=Refusing):
        with pytest.raises(ValueError):
            airlock.enqueue(send_email, 0)
        airlock.configure(executor=after)
        airlock.enqueue(send_email, 1)
    assert before.calls == ["send_email(1)"] and after.calls == []
