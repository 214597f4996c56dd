"""Property: under ``DjangoScope`` (isolate mode) with real transactions, savepoints and random
rollbacks, every intent gets exactly one terminal fate, reported once, equal to a reference
model of semantics.md / SPEC 2.6; each executor sent exactly what the model dispatched, so
nothing from rolled-back, discarded, dropped or failed work. Runs on SQLite and, with
``AIRLOCK_TEST_DB=postgres``, on PostgreSQL.

A program is a list of steps: enqueues (only inside a scope, see ``tests.lifecycle``),
``raise``, local policy blocks, nested ``DjangoScope``s (policy, executor or None, catch, and a
class: plain, one that lets its descendants flush on their own, one whose ``should_flush``
raises, one whose ``before_descendant_flushes`` raises) and nested ``atomic`` blocks on the
``default`` or ``other`` database (each writes a row; it ends by committing, or rolling back on
purpose, and the step may catch a ``Boom`` escaping it, which rolls it back).

Which intents share a batch (``batching(size=2)`` around a recorder that fails on ``x``) when
a commit releases them is not part of the contract, so the model does not pin it: an intent
that is not ``x`` given to "batch" is "sent_or_failed" (a batch mate may have failed the send),
and the test then holds that it was reported dispatched exactly when the recorder got it.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import pytest
from django.db import connections, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import airlock
from airlock.integrations.django import DjangoScope
from tests.django.models import Note
from tests.lifecycle import (
    EXECUTOR_NAMES,
    POLICY_NAMES,
    Boom,
    Enqueue,
    Escape,
    Local,
    Raise,
    check_fates,
    enqueue,
    enqueues,
    local_policies,
    make_executors,
    make_policy,
    number,
    observe,
    verdict,
    weighted,
)

pytestmark = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


class Open(NamedTuple):
    """A DjangoScope around ``body``."""

    policy: str
    executor: str | None  # None: the configured one / the capturing scope's
    body: tuple[Any, ...]
    catch: bool  # the step catches a Boom escaping the scope
    cls: str = "django"  # a key of CLASSES


class Atomic(NamedTuple):
    """``transaction.atomic(using=alias)`` around ``body`` (a savepoint when nested in one of
    the same alias)."""

    alias: str  # "default" or "other"
    body: tuple[Any, ...]
    rollback: bool  # roll back on purpose at its end
    catch: bool  # the step catches a Boom escaping the block (which rolled it back)


# -- the reference model ------------------------------------------------------------------------
class Item:
    """The model's view of one buffered intent."""

    def __init__(self, e: Enqueue, tied: list[tuple[int, str]]) -> None:
        self.e = e
        self.tied = {block for block, _ in tied}  # the atomic blocks open at its enqueue
        self.uncommitted = {alias for _, alias in tied}  # whose transactions must commit
        self.pin: str | None = None  # the executor of the innermost scope given one
        self.home: Buffer | None = None  # the scope buffer holding it


class Buffer:
    def __init__(self, cls: str) -> None:
        self.cls = cls
        self.items: list[Item] = []
        self.keys: dict[str, Item] = {}


Fates = dict[int, tuple[str, str | None]]


def model(program: tuple[Any, ...]) -> tuple[Fates, dict[str, list[int]]]:
    """Fates ``{n: (fate, executor name for dispatched)}`` and what each executor sent."""
    fates: Fates = {}
    received: dict[str, list[int]] = {name: [] for name in ("default", *EXECUTOR_NAMES)}
    items: list[Item] = []
    atomics: list[tuple[int, str]] = []  # the open atomic blocks (id, alias), outermost first
    blocks = itertools.count()
    scopes: list[Buffer] = []  # the open scopes, outermost first
    waiting: list[tuple[Item, str]] = []  # released by their scope, waiting for the commit
    local = local_policies(program)  # n -> its local policies, innermost first

    def settle(item: Item, fate: str, executor: str | None = None) -> None:
        assert item.e.n not in fates
        fates[item.e.n] = (fate, executor)

    def send(item: Item, name: str) -> None:
        """Isolate mode: each intent alone. "fail" and "batch" fail on x; retries succeed."""
        if name in ("fail", "batch") and item.e.x:
            settle(item, "failed")
        elif name == "batch":
            settle(item, "sent_or_failed", name)  # its batch mates are not the model's to say
        else:
            received[name].append(item.e.n)
            settle(item, "dispatched", name)

    def take(buffer: Buffer, item: Item) -> None:
        key = item.e.key
        if key is not None:
            if key in buffer.keys:  # a duplicate key collapses to the first (SPEC 2.3)
                settle(item, "dropped")
                return
            buffer.keys[key] = item
        buffer.items.append(item)
        item.home = buffer

    def leave(item: Item) -> None:
        buffer, item.home = item.home, None
        if buffer is not None:
            buffer.items.remove(item)
            if buffer.keys.get(item.e.key or "") is item:
                del buffer.keys[item.e.key or ""]  # a retry may enqueue the key again

    def roll_back(block: int) -> None:
        """Every intent enqueued inside the block and not settled yet: rolled_back, now."""
        for item in items:
            if item.e.n not in fates and block in item.tied:
                leave(item)
                waiting[:] = [(i, name) for i, name in waiting if i is not item]
                settle(item, "rolled_back")

    def commit(alias: str) -> None:
        """The alias's transaction committed: released intents that now wait for no other
        transaction go."""
        for item in items:
            if item.e.n not in fates:
                item.uncommitted.discard(alias)
        ready = [(item, name) for item, name in waiting if not item.uncommitted]
        waiting[:] = [(item, name) for item, name in waiting if item.uncommitted]
        for item, name in ready:
            send(item, name)

    def run(steps: tuple[Any, ...]) -> None:
        for step in steps:
            if isinstance(step, Enqueue):
                item = Item(step, atomics)
                items.append(item)
                take(scopes[-1], item)
            elif isinstance(step, Raise):
                raise Escape("Boom")
            elif isinstance(step, Local):
                run(step.body)
            else:
                try:
                    (scope if isinstance(step, Open) else atomic)(step)
                except Escape:
                    if not step.catch:
                        raise

    def atomic(step: Atomic) -> None:
        block = next(blocks)
        atomics.append((block, step.alias))
        try:
            run(step.body)
        except Escape:
            atomics.pop()
            roll_back(block)
            raise
        atomics.pop()
        if step.rollback:
            roll_back(block)
        elif all(alias != step.alias for _, alias in atomics):  # the outermost of its alias
            commit(step.alias)

    def scope(step: Open) -> None:
        buffer = Buffer(step.cls)
        scopes.append(buffer)
        try:
            run(step.body)
        except Escape:
            scopes.pop()
            for item in list(buffer.items):  # an error: the scope discards what it holds
                leave(item)
                settle(item, "failed" if step.cls == "bad_should_flush" else "discarded")
            raise  # (the original error wins over a should_flush that raises)
        scopes.pop()
        if step.cls == "bad_should_flush":  # its intents fail; isolate mode: nothing raises
            for item in list(buffer.items):
                leave(item)
                settle(item, "failed")
            return
        ancestors = scopes[::-1]  # innermost first
        # Isolate mode: a policy that raises fails only the intent it was judging.
        items = judge(buffer.items, lambda e: ([] if ancestors else local[e.n]) + [step.policy])
        for ancestor in ancestors:  # each hands back what it lets us send, or takes it
            if ancestor.cls == "bad_hand_back" and items:  # its hook fails what it is offered
                for item in items:
                    settle(item, "failed")
                return
            if ancestor.cls != "release":
                for item in items:  # captured; keeps this scope's executor if it was given one
                    item.pin = item.pin or step.executor
                    take(ancestor, item)
                return
        if ancestors:  # local policies are judged where the intent dispatches
            items = judge(items, lambda e: local[e.n])
        for item in items:
            name = item.pin or step.executor or "default"
            if item.uncommitted:
                waiting.append((item, name))  # goes when its transaction commits
            else:
                send(item, name)

    def judge(buffered: list[Item], judges: Any) -> list[Item]:
        kept = []
        for item in list(buffered):
            leave(item)
            judged = verdict(judges(item.e), item.e)
            if judged == "raise":
                settle(item, "failed")
            elif judged == "drop":
                settle(item, "dropped")
            else:
                kept.append(item)
        return kept

    try:
        run(program)
    except Escape:
        pass
    assert not waiting and len(fates) == len(items), "the model left an intent pending"
    return fates, received


# -- the real thing -----------------------------------------------------------------------------
class Rollback(Exception):
    """Rolls an atomic block back on purpose."""


class Releasing(DjangoScope):
    """Lets descendants flush on their own (hands back everything offered)."""

    def before_descendant_flushes(
        self, exiting_scope: airlock.Scope, intents: list[airlock.Intent]
    ) -> list[airlock.Intent]:
        return intents


class BadShouldFlush(DjangoScope):
    def should_flush(self, error: BaseException | None) -> bool:
        raise ValueError("should_flush raised")


class BadHandBack(DjangoScope):
    def before_descendant_flushes(
        self, exiting_scope: airlock.Scope, intents: list[airlock.Intent]
    ) -> list[airlock.Intent]:
        raise ValueError("before_descendant_flushes raised")


CLASSES: dict[str, type[DjangoScope]] = {
    "django": DjangoScope,
    "release": Releasing,
    "bad_should_flush": BadShouldFlush,
    "bad_hand_back": BadHandBack,
}


def run(steps: tuple[Any, ...], executors: dict[str, Any]) -> None:
    for step in steps:
        if isinstance(step, Enqueue):
            enqueue(step)
        elif isinstance(step, Raise):
            raise Boom
        elif isinstance(step, Local):
            with airlock.policy(make_policy(step.policy)):
                run(step.body, executors)
        else:
            try:
                if isinstance(step, Open):
                    executor = executors[step.executor] if step.executor else None
                    cls = CLASSES[step.cls]
                    with airlock.scope(make_policy(step.policy), executor=executor, _cls=cls):
                        run(step.body, executors)
                else:
                    try:
                        with transaction.atomic(using=step.alias):
                            Note.objects.using(step.alias).create(text="row")
                            run(step.body, executors)
                            if step.rollback:
                                raise Rollback
                    except Rollback:
                        pass
            except Boom:
                if not step.catch:
                    raise


# -- strategies ---------------------------------------------------------------------------------
def steps(depth: int, in_scope: bool, min_size: int = 0) -> st.SearchStrategy[tuple[Any, ...]]:
    """Up to ``depth`` levels of scopes and atomic blocks; enqueues only inside a scope."""
    inner: dict[str, tuple[int, st.SearchStrategy[Any]]] = {
        "raise": (1, st.just(Raise())),
        "enqueue": (12 if in_scope else 0, enqueues),
    }
    if depth:
        inner["open"] = (4, st.builds(
            Open,
            policy=st.sampled_from(POLICY_NAMES),
            executor=st.sampled_from([None, *EXECUTOR_NAMES]),
            body=steps(depth - 1, True),
            catch=st.sampled_from([True, True, False]),
            cls=st.sampled_from(["django", "django", "django", "release", "release",
                                 "bad_should_flush", "bad_hand_back"]),
        ))
        inner["local"] = (2, st.builds(
            Local, policy=st.sampled_from(POLICY_NAMES), body=steps(depth - 1, in_scope)
        ))
        inner["atomic"] = (4, st.builds(
            Atomic,
            alias=st.sampled_from(["default", "default", "other"]),
            body=steps(depth - 1, in_scope),
            rollback=st.sampled_from([False, False, True]),
            catch=st.sampled_from([True, True, False]),
        ))
    return st.lists(weighted(inner), min_size=min_size, max_size=5).map(tuple)


programs = steps(4, in_scope=False, min_size=1).map(number)


# -- the property -------------------------------------------------------------------------------
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs)
def test_fates_under_transactions_equal_the_reference_model(program):
    executors, recorders = make_executors(batch_size=2)
    airlock.configure(executor=executors["default"])
    seen, unsubscribe = observe()
    try:
        try:
            run(program, executors)
        except Boom:
            pass
    finally:
        unsubscribe()
    assert airlock.get_current_scope() is None
    assert not any(connections[alias].in_atomic_block for alias in ("default", "other"))
    for fate in sorted({events[0][0] for events in seen.values()}):
        event(f"fate {fate}")  # --hypothesis-show-statistics: how often each fate is reached
    fates, received = model(program)
    for n, (fate, name) in fates.items():
        if fate == "sent_or_failed":
            assert seen[n][0][0] in ("dispatched", "failed"), (n, seen[n])
            event(f"batch mate {seen[n][0][0]}")
            fates[n] = (seen[n][0][0], name)
    check_fates(seen, fates, executors)
    # each executor sent exactly what was reported dispatched to it...
    for name, recorder in recorders.items():
        reported = [n for n, ((fate, detail, _, _),) in seen.items()
                    if fate == "dispatched" and detail is executors[name]]
        assert sorted(recorder.got) == sorted(reported), name
    # ...which is what the model dispatched: nothing rolled back, discarded, dropped or failed
    received["batch"] = [n for n, (fate, name) in fates.items()
                         if fate == "dispatched" and name == "batch"]
    assert {k: sorted(r.got) for k, r in recorders.items()} == {
        k: sorted(v) for k, v in received.items()
    }


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=programs)
def test_unobserved_without_buffer_hooks_executors_send_what_the_model_sends(
    program, no_buffer_hooks
):
    """The same programs with nobody listening and no buffer hook (a project without the
    outbox app): a ``DjangoScope`` then takes intents after its first on the direct path
    (``Tied``), which the observed run above never takes. What each executor sent must still be
    what the model sends."""
    executors, recorders = make_executors(batch_size=2)
    airlock.configure(executor=executors["default"])
    try:
        run(program, executors)
    except Boom:
        pass
    assert airlock.get_current_scope() is None
    fates, received = model(program)
    sent = {name: sorted(recorder.got) for name, recorder in recorders.items()}
    batch, sure = set(sent.pop("batch")), {
        n for n, (fate, name) in fates.items() if fate == "dispatched" and name == "batch"
    }
    maybe = {n for n, (fate, _) in fates.items() if fate == "sent_or_failed"}
    assert sure <= batch <= sure | maybe
    del received["batch"]
    assert sent == {name: sorted(ns) for name, ns in received.items()}


# -- the model on known programs ----------------------------------------------------------------
def e(n: int, key: str | None = None, x: bool = False) -> Enqueue:
    return Enqueue("a", key, None, x, False, n)


def test_the_model_rolls_back_released_intents_and_frees_keys():
    program = (
        Atomic("default", (
            Open("allow", "rec", (
                e(0),
                Atomic("default", (e(1, "k"),), rollback=True, catch=False),
                e(2, "k"),  # the rolled-back intent freed its key
            ), False),
            Raise(),  # the scope flushed, its intents wait for the commit: rolled back
        ), rollback=False, catch=True),
        Open("allow", "fail", (e(3), e(4, x=True), e(5)), False),  # isolate: 5 still goes
    )
    fates, received = model(program)
    assert fates == {
        0: ("rolled_back", None), 1: ("rolled_back", None), 2: ("rolled_back", None),
        3: ("dispatched", "fail"), 4: ("failed", None), 5: ("dispatched", "fail"),
    }
    assert received["rec"] == [] and received["fail"] == [3, 5]


def test_the_model_waits_for_every_database_an_intent_was_enqueued_in():
    program = (
        Atomic("default", (
            Atomic("other", (Open("allow", "rec", (e(0),), False),), rollback=False, catch=False),
            Open("allow", "rec", (e(1),), False),  # only in default's transaction
        ), rollback=True, catch=False),  # default rolls back after other committed
        Atomic("other", (
            Atomic("default", (Open("allow", "rec", (e(2),), False),), rollback=False,
                   catch=False),
        ), rollback=False, catch=False),
    )
    fates, received = model(program)
    assert fates == {0: ("rolled_back", None), 1: ("rolled_back", None),
                     2: ("dispatched", "rec")}
    assert received["rec"] == [2]


# -- found by the property: one fate per intent when should_flush raises ------------------------
def test_a_raising_should_flush_fails_only_what_has_no_fate_yet():
    ex = make_executors(batch_size=2)[0]["rec"]
    seen, unsubscribe = observe()
    try:
        with airlock.scope(executor=ex, _cls=BadShouldFlush):
            try:
                with transaction.atomic():
                    Note.objects.create(text="row")
                    enqueue(e(0))
                    raise Rollback
            except Rollback:
                pass
            enqueue(e(1))
    finally:
        unsubscribe()
    assert {n: [fate for fate, *_ in events] for n, events in seen.items()} == {
        0: ["rolled_back"], 1: ["failed"],  # 0 was reported a second time, "failed"
    }


# -- outside the model: a plain Scope capturing from a DjangoScope ------------------------------
def task(n: int) -> None: ...


def test_a_plain_outer_scope_does_not_send_what_rolled_back():
    sent: list[airlock.Intent] = []
    seen, unsubscribe = observe()
    try:
        with airlock.scope(executor=sent.append, _cls=airlock.Scope):
            try:
                with transaction.atomic():
                    Note.objects.create(text="row")
                    with airlock.scope(_cls=DjangoScope):
                        airlock.enqueue(task, 1)
                    raise Rollback
            except Rollback:
                pass
    finally:
        unsubscribe()
    assert sent == []
    assert [fate for fate, *_ in seen[1]] == ["rolled_back"]
