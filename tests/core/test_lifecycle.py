"""The dispatch engine: every intent ends in exactly one fate, reported once (SPEC 2.6).

Plain ``Scope`` fails fast; batching executors wait for ``after_flush``; an interrupt
(``KeyboardInterrupt``, ``SystemExit``) settles what it can and then propagates itself.
Isolate mode (``DjangoScope``) has its twin in ``tests/django/test_isolate_mode.py``.
"""

from __future__ import annotations

import pytest

import airlock
from airlock import _dispatch
from airlock.exceptions import DispatchError
from airlock.executors import batching, route, with_retry
from airlock.integrations.executors._batch import BatchingExecutor
from airlock.testing import capture
from tests.recording import Batched, Plain

from .conftest import Recorder, send_email

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")


def fates(events):
    """The terminal fate events, in the order they were reported: (fate, str(intent))."""
    return [(event, intent) for event, intent, _ in events if event in TERMINAL]


def three(executor, **kwargs):
    """Run a scope on ``executor`` holding send_email(1), (2), (3); return (scope, intents)."""
    with airlock.scope(executor=executor, **kwargs) as scope:
        intents = [airlock.enqueue(send_email, n) for n in (1, 2, 3)]
    return scope, intents


# -- fail-fast --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [Plain, Batched])
def test_fail_fast_executor_error_on_the_second_of_three_fails_it_and_every_later_one(
    kind, events
):
    executor = kind(fail_on=2)
    with capture(execute=True) as seen:
        with pytest.raises(DispatchError) as raised:
            three(executor)
    _, second, third = seen.intents
    assert executor.sent == ["send_email(1)"] and executor.calls == 2
    assert [(str(r.intent), r.fate) for r in seen] == [
        ("send_email(1)", "dispatched"),
        ("send_email(2)", "failed"),
        ("send_email(3)", "failed"),
    ]
    assert fates(events) == [  # each reported exactly once
        ("dispatched", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    error = raised.value
    assert error.failed == [second, third] and error.unsent == [third]
    assert error.__cause__ is executor.error
    assert [e for _, e in error.errors] == [executor.error, executor.error]
    assert "send_email(2) (RuntimeError: the broker refused)" in str(error)
    assert "1 not sent: send_email(3)" in str(error)


def test_fail_fast_scope_is_flushed_and_lists_what_became_of_each_intent():
    executor = Batched(fail_on=2)
    with pytest.raises(DispatchError):
        with airlock.scope(executor=executor) as scope:
            first = airlock.enqueue(send_email, 1)
            second = airlock.enqueue(send_email, 2)
            third = airlock.enqueue(send_email, 3)
    assert scope.is_flushed and not scope.is_discarded
    assert scope.dispatched == [first]
    assert scope.failed == [(second, executor.error), (third, executor.error)]
    assert executor.after_flush_calls == 1  # still called: the first intent's batch goes there


def test_fail_fast_an_unknown_executor_name_fails_that_intent_and_stops_the_flush(events):
    good = Batched()
    airlock.register_executor("gone", good)
    with pytest.raises(DispatchError, match="unknown executor name 'gone'") as raised:
        with airlock.scope(executor=good):
            airlock.enqueue(send_email, 1)
            airlock.enqueue(send_email, 2, _dispatch_options={"executor": "gone"})
            airlock.enqueue(send_email, 3)
            airlock.configure(executors={})  # the registry changed under the scope
    assert [str(i) for i in raised.value.failed] == ["send_email(2)", "send_email(3)"]
    assert [str(i) for i in raised.value.unsent] == ["send_email(3)"]
    assert good.sent == ["send_email(1)"] and good.after_flush_calls == 1
    assert fates(events) == [
        ("dispatched", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]


# -- after_flush: every batch goes, each guarded --------------------------------------------
class Broker:
    """What a batching executor wraps: ``send_batch`` is one round trip (and can fail)."""

    def __init__(self, name: str, down: bool = False) -> None:
        self.name = name
        self.down = down
        self.batches: list[list[str]] = []

    def __call__(self, intent: airlock.Intent) -> None:  # pragma: no cover - never called
        raise AssertionError("batching sends through send_batch")

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        if self.down:
            raise ConnectionError(f"{self.name} is down")
        self.batches.append([str(i) for i in intents])


def enqueue_to(name: str, n: int) -> airlock.Intent:
    return airlock.enqueue(send_email, n, _dispatch_options={"executor": name})


def test_a_batch_failing_in_after_flush_does_not_strand_the_next_executors_batch(events):
    down, up = Broker("down", down=True), Broker("up")
    airlock.register_executor("down", batching(down, size=10))
    airlock.register_executor("up", batching(up, size=10))
    with capture(execute=True) as seen:
        with pytest.raises(DispatchError) as raised:
            with airlock.scope() as scope:
                enqueue_to("down", 1)  # "down" is used first, so its after_flush runs first
                enqueue_to("up", 2)
                enqueue_to("down", 3)
                enqueue_to("up", 4)
    assert up.batches == [["send_email(2)", "send_email(4)"]]
    assert down.batches == []
    assert [(r.args[0], r.fate) for r in seen] == [
        (1, "failed"), (2, "dispatched"), (3, "failed"), (4, "dispatched"),
    ]
    assert fates(events) == [  # once each, in intent order
        ("failed", "send_email(1)"),
        ("dispatched", "send_email(2)"),
        ("failed", "send_email(3)"),
        ("dispatched", "send_email(4)"),
    ]
    assert [i.args[0] for i in raised.value.failed] == [1, 3]
    assert isinstance(raised.value.__cause__, DispatchError)  # batching's own, naming them
    assert isinstance(raised.value.__cause__.__cause__, ConnectionError)
    assert scope.is_flushed and [i.args[0] for i in scope.dispatched] == [2, 4]
    # batching never keeps a failed batch to send it twice later
    assert airlock._config.get_named_executor("down").pending == []  # type: ignore[attr-defined]


def test_a_batch_that_fails_part_way_dispatches_what_went_and_fails_the_rest(events):
    class OneByOne:
        """No send_batch: batching calls it per intent; it fails on the second."""

        def __init__(self) -> None:
            self.sent: list[str] = []

        def __call__(self, intent: airlock.Intent) -> None:
            if len(self.sent) == 1:
                raise ConnectionError("lost the connection")
            self.sent.append(str(intent))

    inner = OneByOne()
    with pytest.raises(DispatchError) as raised:
        three(batching(inner, size=10))
    assert inner.sent == ["send_email(1)"]
    assert fates(events) == [
        ("dispatched", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    assert [str(i) for i in raised.value.failed] == ["send_email(2)", "send_email(3)"]


def test_an_after_flush_error_that_names_no_intent_fails_its_whole_batch_only(events):
    class Exploding(Batched):
        def after_flush(self) -> None:
            raise OSError("flush failed")

    airlock.register_executor("exploding", Exploding())
    other = Batched()
    with pytest.raises(DispatchError) as raised:
        with airlock.scope(executor=other):
            enqueue_to("exploding", 1)
            airlock.enqueue(send_email, 2)
            enqueue_to("exploding", 3)
    assert other.after_flush_calls == 1 and other.sent == ["send_email(2)"]
    assert fates(events) == [
        ("failed", "send_email(1)"),
        ("dispatched", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    assert isinstance(raised.value.__cause__, OSError)


# -- interrupts ---------------------------------------------------------------------------
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("kind", [Plain, Batched])
def test_an_interrupt_mid_flush_settles_every_intent_then_propagates_unwrapped(
    kind, interrupt, events
):
    raised_by_executor = interrupt("stop")
    executor = kind(fail_on=2, error=raised_by_executor)
    with capture(execute=True) as seen:
        with pytest.raises(interrupt) as raised:
            three(executor)
    assert raised.value is raised_by_executor  # not wrapped in DispatchError
    assert executor.sent == ["send_email(1)"] and executor.calls == 2
    assert fates(events) == [
        ("dispatched", "send_email(1)"),
        ("failed", "send_email(2)"),
        ("failed", "send_email(3)"),
    ]
    assert [r.detail for r in seen.failed] == [raised_by_executor, raised_by_executor]
    if kind is Batched:
        assert executor.after_flush_calls == 1


def test_an_interrupt_in_one_after_flush_still_sends_the_other_batches_then_propagates(events):
    class Interrupted(Broker):
        def send_batch(self, intents: list[airlock.Intent]) -> None:
            raise KeyboardInterrupt

    up = Broker("up")
    airlock.register_executor("interrupted", batching(Interrupted("interrupted"), size=10))
    airlock.register_executor("up", batching(up, size=10))
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope():
            enqueue_to("interrupted", 1)
            enqueue_to("up", 2)
    assert up.batches == [["send_email(2)"]]
    assert fates(events) == [("failed", "send_email(1)"), ("dispatched", "send_email(2)")]


class InterruptedAt(Broker):
    """A broker whose ``send_batch`` number ``at`` is interrupted (Ctrl-C) before it sends."""

    def __init__(self, at: int) -> None:
        super().__init__("interrupted")
        self.at = at

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        if len(self.batches) + 1 == self.at:
            raise KeyboardInterrupt
        super().send_batch(intents)


@pytest.mark.parametrize("at", [1, 2, 3])
def test_an_interrupted_batch_fails_only_what_it_had_not_sent(at, events):
    # Batches of two: (1, 2) and (3, 4) go from enqueue (a full batch is sent at once), (5)
    # from after_flush. Before, an intent of the batch the interrupt stopped in enqueue was
    # reported dispatched (never sent), and one stopped in after_flush failed its sent
    # batch mates.
    broker = InterruptedAt(at)
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=batching(broker, size=2)):
            for n in range(1, 6):
                airlock.enqueue(send_email, n)
    sent = [str(i) for batch in broker.batches for i in batch]
    assert sent == [f"send_email({n})" for n in range(1, 2 * at - 1)]
    assert fates(events) == [
        ("dispatched" if f"send_email({n})" in sent else "failed", f"send_email({n})")
        for n in range(1, 6)
    ]


def test_an_interrupt_in_a_batch_sent_one_by_one_fails_only_the_rest(events):
    # batching() around an executor without send_batch hands it the batch one intent at a time.
    sent = []

    def executor(intent: airlock.Intent) -> None:
        if intent.args == (3,):
            raise KeyboardInterrupt
        sent.append(intent.args[0])

    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=batching(executor, size=10)):
            for n in range(1, 6):
                airlock.enqueue(send_email, n)
    assert sent == [1, 2]
    assert fates(events) == [
        ("dispatched" if n < 3 else "failed", f"send_email({n})") for n in range(1, 6)
    ]


class Planned(Broker):
    """A broker whose ``send_batch`` number n raises ``plan[n]`` (an instance or a class)."""

    def __init__(self, plan: dict[int, BaseException | type[BaseException]]) -> None:
        super().__init__("planned")
        self.plan = plan
        self.calls = 0

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        self.calls += 1
        error = self.plan.get(self.calls)
        if error is not None:
            raise error
        super().send_batch(intents)


class Sink:
    """The engine's caller, as a scope or the relay: each fate as ``(fate, intent)``."""

    def __init__(self) -> None:
        self.fates: list[tuple[str, airlock.Intent]] = []

    def settle(self, intent: airlock.Intent, fate: str, detail: object) -> None:
        self.fates.append((fate, intent))

    def settle_all(self, intents: list[airlock.Intent], fate: str, detail: object) -> None:
        for intent in intents:
            self.settle(intent, fate, detail)


def interrupted_flush(executor, options: list[dict[str, str] | None]) -> None:
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=executor):
            for n, dispatch_options in enumerate(options, 1):
                airlock.enqueue(send_email, n, _dispatch_options=dispatch_options)


@pytest.mark.parametrize("other", [ConnectionError, KeyboardInterrupt])
def test_an_interrupt_from_one_route_never_reports_anothers_unsent_intents_dispatched(
    other, events
):
    # What a batch says on an interrupt is trusted only from the executor the engine called:
    # here route(), whose other part failed too (and sent nothing).
    a, b = Planned({1: KeyboardInterrupt}), Planned({1: other})
    executor = route({"a": batching(a, size=10), "b": batching(b, size=10)}, by="q")
    interrupted_flush(executor, [{"q": "a"}, {"q": "b"}])
    assert a.batches == b.batches == []
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]


def test_a_batch_sent_through_route_is_named_by_the_batch_not_by_a_part_of_it(events):
    # batching(route(...)): the interrupt stops the first part; the second never ran.
    def first(intent: airlock.Intent) -> None:  # no send_batch: route sends it one by one
        raise KeyboardInterrupt

    second = Planned({})
    executor = batching(route({"a": first, "b": second}, by="q"), size=10)
    interrupted_flush(executor, [{"q": "a"}, {"q": "b"}])
    assert second.batches == []
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]


def test_an_interrupt_behind_with_retry_fails_what_retry_gave_up_on(events):
    # isolate mode, as DjangoScope and the relay send: batch (1, 2) fails and is given up,
    # batch (3) is interrupted; with_retry does not speak for the batch, so nothing is
    # reported dispatched.
    broker = Planned({1: ConnectionError, 2: KeyboardInterrupt})
    sink = Sink()
    intents = [airlock.Intent(task=send_email, args=(n,)) for n in (1, 2, 3)]
    with pytest.raises(KeyboardInterrupt):
        _dispatch.send(intents, sink, with_retry(batching(broker, size=2), attempts=1),
                       isolate=True)  # fmt: skip
    assert broker.batches == []
    assert [fate for fate, _ in sink.fates] == ["failed"] * 3


def test_an_interrupt_raised_again_in_a_later_flush_is_read_afresh(events):
    # The same KeyboardInterrupt object in two flushes (a stored error raised again): what the
    # first flush's batch said about it is gone, so the second's intents fail.
    interrupt = KeyboardInterrupt()
    broker = Planned({1: interrupt, 2: interrupt})
    executor = batching(broker, size=10)
    for flush in (1, 2):
        interrupted_flush(executor, [None, None])
        assert not hasattr(interrupt, "airlock_unsent")
    assert broker.batches == []
    assert [fate for fate, _ in fates(events)] == ["failed"] * 4


def test_a_note_an_interrupt_carries_speaks_only_for_the_intents_it_covers(events):
    # Two flushes sharing one interrupt object can swap the notes on it (another thread's,
    # for the same executor): an intent the note never saw is failed, never dispatched.
    from airlock.executors._unsent import name_unsent

    intents = [airlock.Intent(task=send_email, args=(n,)) for n in (1, 2)]
    stranger = airlock.Intent(task=send_email, args=(9,))

    class Stale:
        def __call__(self, intent: airlock.Intent) -> None:
            pass

        def after_flush(self) -> None:
            interrupt = KeyboardInterrupt()
            name_unsent(interrupt, [], [stranger], owner=self)  # covers only the stranger
            raise interrupt

    sink = Sink()
    with pytest.raises(KeyboardInterrupt):
        _dispatch.send(intents, sink, Stale(), isolate=True)
    assert [fate for fate, _ in sink.fates] == ["failed", "failed"]


@pytest.mark.parametrize("error", [ConnectionError, KeyboardInterrupt])
def test_one_batch_executor_behind_two_entries_fails_what_its_failed_send_took(error, events):
    # The default executor and a named one share a batching executor: the first after_flush
    # sends (and fails) both entries' intents; the second finds nothing left to send.
    class Alias:  # e.g. an instrumented copy of the same executor, registered by name
        def __init__(self, inner: object) -> None:
            self.inner = inner

        def __call__(self, intent: airlock.Intent) -> None:
            self.inner(intent)  # type: ignore[operator]

        def after_flush(self) -> None:
            self.inner.after_flush()  # type: ignore[attr-defined]

    broker = Planned({1: error})
    shared = batching(broker, size=10)
    airlock.register_executor("alias", Alias(shared))
    with pytest.raises((airlock.DispatchError, KeyboardInterrupt)):
        with airlock.scope(executor=shared):
            airlock.enqueue(send_email, 1)
            enqueue_to("alias", 2)
    assert broker.batches == []
    assert fates(events) == [("failed", "send_email(1)"), ("failed", "send_email(2)")]


class InMemoryBatches(BatchingExecutor):
    """A batched executor (as Celery's and dramatiq's) whose broker is a list; the publish
    number ``fail_at`` fails."""

    def __init__(self, fail_at: int = 0) -> None:
        super().__init__()
        self.fail_at, self.publishes, self.broker = fail_at, 0, []

    def batch_groups(self, intents):
        return ["broker"] * len(intents)

    def send_one(self, intent):
        self.publish_batch("broker", [intent])

    def publish_batch(self, group, intents):
        self.publishes += 1
        if self.publishes == self.fail_at:
            raise ConnectionError("broker down")
        self.broker += [str(i) for i in intents]


@pytest.mark.parametrize("kind", ["batching", "batched executor"])
def test_a_flush_nested_in_another_sends_and_fails_only_its_own(kind, events):
    # Intent 2's executor runs its task inline; the task's own scope flushes inside the outer
    # flush, on the same batch executor, and that send fails. Before, it also took intent 1
    # (handed over by the outer flush, in the same context), and the outer flush, finding
    # nothing left, reported 1 dispatched.
    if kind == "batching":
        broker = Planned({1: ConnectionError})
        shared = batching(broker, size=10)
    else:
        shared = InMemoryBatches(fail_at=1)

    def inline(intent: airlock.Intent) -> None:
        with airlock.scope(executor=shared):
            airlock.enqueue(send_email, 3)

    airlock.register_executor("inline", inline)
    with pytest.raises(airlock.DispatchError):
        with airlock.scope(executor=shared):
            airlock.enqueue(send_email, 1)
            enqueue_to("inline", 2)
    sent = [b for batch in broker.batches for b in batch] if kind == "batching" else shared.broker
    assert sent == ["send_email(1)"]
    assert fates(events) == [
        ("failed", "send_email(3)"),
        ("dispatched", "send_email(1)"),
        ("failed", "send_email(2)"),
    ]


def test_another_librarys_errors_attribute_is_not_read_as_ours(events):
    # pydantic's ValidationError, for one, has an errors() method: the fate keeps the error.
    class Invalid(Exception):
        def errors(self) -> list[str]:
            return ["not ours"]

    class Refusing(Broker):
        def send_batch(self, intents: list[airlock.Intent]) -> None:
            raise Invalid("refused")

    with capture(execute=True) as seen, pytest.raises(airlock.DispatchError):
        with airlock.scope(executor=batching(Refusing("refusing"), size=10)):
            airlock.enqueue(send_email, 1)
    assert [type(r.detail.__cause__ or r.detail).__name__ for r in seen.failed] == ["Invalid"]


def test_a_scope_whose_executor_was_interrupted_is_flushed_and_no_longer_current():
    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=Plain(fail_on=1, error=KeyboardInterrupt())) as scope:
            airlock.enqueue(send_email, 1)
    assert scope.is_flushed
    assert airlock.get_current_scope() is None


def test_fates_are_reported_in_intent_order_across_executors(events):
    airlock.register_executor("batched", Batched())
    with airlock.scope(executor=Plain()):
        airlock.enqueue(send_email, 1)
        enqueue_to("batched", 2)
        airlock.enqueue(send_email, 3)
    assert fates(events) == [
        ("dispatched", "send_email(1)"),
        ("dispatched", "send_email(2)"),
        ("dispatched", "send_email(3)"),
    ]


def test_the_recorder_of_the_suite_sees_after_flush_once_even_when_all_failed(events):
    recorder = Recorder(fail_on=1)
    with pytest.raises(DispatchError):
        with airlock.scope(executor=recorder):
            airlock.enqueue(send_email, 1)
    assert recorder.after_flush_calls == 1
    assert fates(events) == [("failed", "send_email(1)")]
