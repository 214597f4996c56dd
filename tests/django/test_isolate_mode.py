"""DjangoScope settles each intent on its own: a failure is logged and signalled, never raised.

The isolate-mode twin of ``tests/core/test_lifecycle.py`` and ``test_judging_errors.py``:
executor errors, raising policies and hooks, failing batches, and interrupts (which, in both
modes, settle every intent and then propagate). Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

import airlock
from airlock.exceptions import BatchDispatchError, PolicyError
from airlock.executors import batching
from airlock.integrations.django import DjangoScope, signals
from airlock.testing import capture
from tests.django.models import Note
from tests.django.tasks import record
from tests.recording import Batched as BatchedExecutor
from tests.recording import Plain as Executor

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")


@pytest.fixture
def events():
    """Every terminal fate event as (fate, str(intent)), in the order reported."""
    seen: list[tuple[str, str]] = []

    def listener(event, intent, scope, detail):
        if event in TERMINAL:
            seen.append((event, str(intent)))

    unsubscribe = airlock._events.subscribe(listener)
    yield seen
    unsubscribe()


@pytest.fixture
def failures():
    """What ``intent_failed`` was sent for: (str(intent), error)."""
    seen: list[tuple[str, BaseException]] = []

    def receiver(sender, intent, scope, error, **kwargs):
        seen.append((str(intent), error))

    signals.intent_failed.connect(receiver)
    yield seen
    signals.intent_failed.disconnect(receiver)


def django_scope(executor=None, **kwargs):
    return airlock.scope(executor=executor, _cls=DjangoScope, **kwargs)


def enqueue_three() -> None:
    for label in ("a", "b", "c"):
        airlock.enqueue(record, label)


# -- executor errors --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", [Executor, BatchedExecutor])
@pytest.mark.parametrize("in_atomic", [False, True], ids=["autocommit", "atomic"])
def test_an_executor_error_on_the_second_of_three_fails_only_that_one(
    kind, in_atomic, events, failures, caplog
):
    executor = kind(fail_on=2)
    with caplog.at_level(logging.ERROR, logger="airlock"):
        with django_scope(executor) as scope:  # nothing raises out of here
            if in_atomic:
                with transaction.atomic():
                    Note.objects.create(text="committed")
                    enqueue_three()
            else:
                enqueue_three()
    assert executor.sent == ["record('a')", "record('c')"]
    assert events == [
        ("dispatched", "record('a')"),
        ("failed", "record('b')"),
        ("dispatched", "record('c')"),
    ]
    assert failures == [("record('b')", executor.error)]  # signalled once
    assert caplog.text.count("dispatching <Intent record('b')") == 1
    assert "the broker refused" in caplog.text
    assert scope.is_flushed and [str(i) for i, _ in scope.failed] == ["record('b')"]
    if kind is BatchedExecutor:
        assert executor.after_flush_calls == 1


# -- policies and hooks raising -----------------------------------------------------------
class Broken:
    """A policy whose ``allows`` raises for the intent labelled "b"."""

    def on_enqueue(self, intent):
        pass

    def allows(self, intent):
        if intent.args == ("b",):
            raise ValueError("policy bug")
        return True

    def __repr__(self):
        return "Broken()"


def assert_names_policy(error: BaseException, names: str) -> None:
    assert isinstance(error, PolicyError) and names in str(error)
    assert isinstance(error.__cause__, ValueError)


def test_a_scope_policy_raising_fails_its_intent_and_the_others_still_go(events, failures):
    executor = Executor()
    with django_scope(executor, policy=Broken()) as scope:
        enqueue_three()
    assert scope.is_flushed
    assert executor.sent == ["record('a')", "record('c')"]
    assert sorted(events) == [
        ("dispatched", "record('a')"),
        ("dispatched", "record('c')"),
        ("failed", "record('b')"),
    ]
    ((label, error),) = failures
    assert label == "record('b')"
    assert_names_policy(error, "Broken() raised ValueError: policy bug")


def test_a_local_policy_raising_inside_atomic_fails_its_intent_and_the_others_commit(
    events, failures
):
    executor = Executor()
    with django_scope(executor), transaction.atomic():
        airlock.enqueue(record, "a")
        with airlock.policy(Broken()):
            airlock.enqueue(record, "b")
        airlock.enqueue(record, "c")
    assert executor.sent == ["record('a')", "record('c')"]
    assert len(events) == 3 and ("failed", "record('b')") in events
    assert_names_policy(failures[0][1], "Broken()")


def test_should_flush_raising_fails_every_intent_discards_and_raises_nothing(
    events, failures, caplog
):
    class BrokenShouldFlush(DjangoScope):
        def should_flush(self, error):
            raise ValueError("policy bug")

    executor = Executor()
    with airlock.scope(executor=executor, _cls=BrokenShouldFlush) as scope:
        enqueue_three()
    assert scope.is_discarded and executor.sent == []
    assert events == [("failed", f"record('{x}')") for x in "abc"]
    assert [label for label, _ in failures] == [f"record('{x}')" for x in "abc"]
    assert_names_policy(failures[0][1], "should_flush")
    assert "should_flush" in caplog.text


def test_before_descendant_flushes_raising_fails_what_it_was_offered_and_raises_nothing(
    events, failures
):
    class BrokenAncestor(DjangoScope):
        def before_descendant_flushes(self, exiting_scope, intents):
            raise ValueError("policy bug")

    executor = Executor()
    with airlock.scope(executor=executor, _cls=BrokenAncestor):
        with django_scope() as inner:
            airlock.enqueue(record, "offered")
        assert inner.is_flushed
        airlock.enqueue(record, "own")
    assert executor.sent == ["record('own')"]
    assert events == [("failed", "record('offered')"), ("dispatched", "record('own')")]
    assert_names_policy(failures[0][1], "before_descendant_flushes")


# -- two batching executors -----------------------------------------------------------------
class Broker:
    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.batches: list[list[str]] = []

    def __call__(self, intent):  # pragma: no cover - batching uses send_batch
        raise AssertionError("batching sends through send_batch")

    def send_batch(self, intents):
        if self.down:
            raise ConnectionError("broker down")
        self.batches.append([str(i) for i in intents])


@pytest.mark.parametrize("in_atomic", [False, True], ids=["autocommit", "atomic"])
def test_a_failing_batch_does_not_strand_the_other_executors_batch(in_atomic, events, failures):
    down, up = Broker(down=True), Broker()
    airlock.register_executor("down", batching(down, size=10))
    airlock.register_executor("up", batching(up, size=10))

    def enqueue_both():
        for n, name in enumerate(["down", "up", "down", "up"]):
            airlock.enqueue(record, n, _dispatch_options={"executor": name})

    with django_scope():
        if in_atomic:
            with transaction.atomic():
                enqueue_both()
        else:
            enqueue_both()
    assert up.batches == [["record(1)", "record(3)"]]
    assert events == [
        ("failed", "record(0)"),
        ("dispatched", "record(1)"),
        ("failed", "record(2)"),
        ("dispatched", "record(3)"),
    ]
    assert [label for label, _ in failures] == ["record(0)", "record(2)"]
    assert all(isinstance(error, ConnectionError) for _, error in failures)


class Refusing(Broker):
    """Refuses ``record(0)`` and sends the rest of its batch (a partial batch failure)."""

    def send_batch(self, intents):
        refused = [i for i in intents if str(i) == "record(0)"]
        went = [i for i in intents if i not in refused]
        self.batches.append([str(i) for i in went])
        if refused:
            error = ConnectionError("refused")
            raise BatchDispatchError("refused", sent=went, unsent=refused,
                                     errors=[(i, error) for i in refused])


def test_the_intent_whose_call_sent_a_batch_failing_another_is_dispatched(events, failures):
    # record(1)'s call fills the batch, which fails record(0) only: record(1) went. Before, it
    # was reported failed, as if its own call had failed.
    broker = Refusing()
    airlock.register_executor("bulk", batching(broker, size=2))
    with django_scope():
        for n in range(3):
            airlock.enqueue(record, n, _dispatch_options={"executor": "bulk"})
    assert broker.batches == [["record(1)"], ["record(2)"]]
    assert events == [
        ("failed", "record(0)"),
        ("dispatched", "record(1)"),
        ("dispatched", "record(2)"),
    ]
    assert [label for label, _ in failures] == ["record(0)"]


# -- interrupts -------------------------------------------------------------------------------
@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("kind", [Executor, BatchedExecutor])
def test_an_interrupt_mid_flush_settles_every_intent_then_propagates_unwrapped(
    kind, interrupt, events
):
    raised_by_executor = interrupt("stop")
    executor = kind(fail_on=2, error=raised_by_executor)
    with capture(execute=True) as seen:
        with pytest.raises(interrupt) as raised:
            with django_scope(executor):
                enqueue_three()
    assert raised.value is raised_by_executor
    assert executor.sent == ["record('a')"]
    assert events == [
        ("dispatched", "record('a')"),
        ("failed", "record('b')"),
        ("failed", "record('c')"),
    ]
    assert [r.detail for r in seen.failed] == [raised_by_executor] * 2
    if kind is BatchedExecutor:
        assert executor.after_flush_calls == 1


def test_an_interrupt_in_a_commit_hook_settles_the_batch_then_propagates(events):
    executor = BatchedExecutor(fail_on=2, error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        with django_scope(executor), transaction.atomic():
            Note.objects.create(text="committed")
            enqueue_three()
    assert Note.objects.count() == 1  # the interrupt came from the commit hook, after commit
    assert events == [
        ("dispatched", "record('a')"),
        ("failed", "record('b')"),
        ("failed", "record('c')"),
    ]
    assert executor.after_flush_calls == 1


def test_isolate_mode_never_raises_dispatch_error_even_when_everything_failed(events):
    executor = Executor(fail_on=1)
    with django_scope(executor, policy=Broken()):
        airlock.enqueue(record, "a")  # the executor fails it
        airlock.enqueue(record, "b")  # the policy fails it
    assert sorted(events) == [("failed", "record('a')"), ("failed", "record('b')")]


def test_an_interrupt_in_a_policy_fails_every_undecided_intent_then_propagates(events):
    class Interrupting(Broken):
        def allows(self, intent):
            if intent.args == ("b",):
                raise KeyboardInterrupt
            return True

    executor = Executor()
    with pytest.raises(KeyboardInterrupt):
        with django_scope(executor, policy=Interrupting()), transaction.atomic():
            enqueue_three()
    assert executor.sent == []
    assert sorted(events) == [("failed", f"record('{x}')") for x in "abc"]


def test_an_interrupt_in_one_scopes_commit_hook_leaves_no_later_scopes_intent_pending(events):
    # Django runs the commit hooks from a list of its own: when one raises an interrupt, the
    # hooks after it never run, and no rollback tells us about them.
    def interrupted_on_a(intent):
        if intent.args == ("a",):
            raise KeyboardInterrupt

    with capture(execute=True) as seen:
        with pytest.raises(KeyboardInterrupt):
            with transaction.atomic():
                with django_scope(interrupted_on_a):
                    airlock.enqueue(record, "a")
                with django_scope(interrupted_on_a):
                    airlock.enqueue(record, "b")
    assert seen.pending == []
    assert events == [("failed", "record('a')"), ("failed", "record('b')")]


def test_an_intent_lost_to_an_interrupted_commit_is_not_discarded_again_by_its_open_scope(
    events,
):
    class Releasing(DjangoScope):
        """Lets children flush on their own (so the outer scope stays open at commit)."""

        def before_descendant_flushes(self, exiting_scope, intents):
            return intents

    def interrupted_on_a(intent):
        if intent.args == ("a",):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=Executor(), _cls=Releasing) as outer:
            with transaction.atomic():
                with django_scope(interrupted_on_a):
                    airlock.enqueue(record, "a")  # released: its hook runs first
                airlock.enqueue(record, "b")  # committed, but its scope has not decided yet
    assert outer.is_discarded and outer.intents == []
    assert events == [("failed", "record('a')"), ("failed", "record('b')")]
