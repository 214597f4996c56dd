"""Property: for plain (fail-fast) scopes, every intent gets exactly one terminal fate, reported
once, equal to a reference model of semantics.md / SPEC 2.2-2.6; each executor sent exactly the
intents the model says it dispatched, so nothing from discarded, dropped or failed work.

A program is one top scope whose body mixes enqueues (see ``tests.lifecycle``), ``raise``
steps, local policy blocks and nested scopes (each with a policy, an executor or None, a scope
class, and whether the step that opened it catches what escapes it). The classes: ``Scope``;
one that lets its descendants flush on their own; one whose ``should_flush`` raises; one whose
``before_descendant_flushes`` raises. ``model`` predicts; ``run`` does it for real. """

from __future__ import annotations

from typing import Any, NamedTuple

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import airlock
from airlock.exceptions import DispatchError, PolicyError
from airlock.executors import batching, with_retry
from tests.lifecycle import (
    EXECUTOR_NAMES,
    POLICY_NAMES,
    Boom,
    Enqueue,
    Escape,
    Local,
    Raise,
    Recorder,
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


class Open(NamedTuple):
    policy: str
    executor: str | None  # None: the configured one / the capturing scope's
    body: tuple[Any, ...]
    catch: bool  # the step catches Boom / DispatchError escaping this scope
    cls: str = "plain"  # a key of SCOPE_CLASSES


SCOPE_CLASSES = ["plain", "release", "bad_should_flush", "bad_hand_back"]


# -- the reference model ------------------------------------------------------------------------
BATCH_SIZE = 2


class Buffer:
    def __init__(self, op: Open) -> None:
        self.op = op
        self.items: list[tuple[Enqueue, str | None]] = []  # (intent, pinned executor), FIFO
        self.keys: set[str] = set()


def model(top: Open) -> tuple[dict[int, tuple[str, str | None]], dict[str, list[int]], Any]:
    """Fates ``{n: (fate, executor name for dispatched)}``, what each executor's recorder
    received (in order), and the exception escaping the top scope: None, "Boom", or
    ``("Dispatch", the numbers of the intents it names as failed)``."""
    fates: dict[int, tuple[str, str | None]] = {}
    received: dict[str, list[int]] = {name: [] for name in ("default", *EXECUTOR_NAMES)}
    scopes: list[Buffer] = []  # the open scopes, outermost first
    local = local_policies((top,))  # n -> its local policies, innermost first

    def settle(e: Enqueue, fate: str, executor: str | None = None) -> None:
        assert e.n not in fates
        fates[e.n] = (fate, executor)

    def dispatch_error(failed: list[int]) -> Escape:
        """Fail-fast: the flush raises a DispatchError naming every intent that failed in it."""
        escape = Escape("Dispatch")
        escape.failed = sorted(failed)  # type: ignore[attr-defined]
        return escape

    def fail(items: list) -> None:
        for e, _ in items:
            settle(e, "failed")
        raise dispatch_error([e.n for e, _ in items])

    def take(buffer: Buffer, e: Enqueue, pin: str | None) -> None:
        if e.key is not None:
            if e.key in buffer.keys:  # a duplicate key collapses to the first (SPEC 2.3)
                settle(e, "dropped")
                return
            buffer.keys.add(e.key)
        buffer.items.append((e, pin))

    def judge(items: list, judges: Any) -> list:
        """Drop what a policy refuses; the first policy that raises fails everything left."""
        kept: list = []
        for index, (e, pin) in enumerate(items):
            judged = verdict(judges(e), e)
            if judged == "raise":
                fail([(e, pin), *kept, *items[index + 1 :]])
            if judged == "drop":
                settle(e, "dropped")
            else:
                kept.append((e, pin))
        return kept

    def run(steps: tuple[Any, ...]) -> None:
        for step in steps:
            if isinstance(step, Enqueue):
                take(scopes[-1], step, None)
            elif isinstance(step, Raise):
                raise Escape("Boom")
            elif isinstance(step, Local):
                run(step.body)
            else:
                try:
                    scope(step)
                except Escape:
                    if not step.catch:
                        raise

    def scope(op: Open) -> None:
        buffer = Buffer(op)
        scopes.append(buffer)
        try:
            run(op.body)
        except Escape:
            scopes.pop()
            if op.cls == "bad_should_flush":  # its items fail; the original error wins
                for e, _ in buffer.items:
                    settle(e, "failed")
                raise
            for e, _ in buffer.items:  # an error: the scope discards what it holds
                settle(e, "discarded")
            raise
        scopes.pop()
        if op.cls == "bad_should_flush":
            if buffer.items:
                fail(buffer.items)
            return
        # Flush: the scope's policy judges (and the local policies, when nobody is around to
        # capture: they are judged where the intent dispatches).
        ancestors = scopes[::-1]  # innermost first
        items = judge(buffer.items, lambda e: ([] if ancestors else local[e.n]) + [op.policy])
        for ancestor in ancestors:  # each ancestor hands back what it lets us send, or takes it
            if not items:
                return
            if ancestor.op.cls == "bad_hand_back":
                fail(items)
            if ancestor.op.cls != "release":
                for e, pin in items:  # captured; keeps this scope's executor if it was given one
                    take(ancestor, e, pin or op.executor)
                return
        if ancestors:
            items = judge(items, lambda e: local[e.n])
        dispatch([(e, pin or op.executor or "default") for e, pin in items])

    def dispatch(items: list) -> None:
        """Fail-fast dispatch: the first error stops the loop, every later intent fails."""
        before = set(fates)
        stopped = False
        failed = False
        pending: list[Enqueue] = []  # batching's partial batch, sent in after_flush
        waiting: list[Enqueue] = []  # handed to batching, fate decided at after_flush

        def send_batch(batch: list[Enqueue]) -> bool:
            """The batch goes out one by one; the first x intent and the rest of it fail."""
            for index, e in enumerate(batch):
                if e.x:
                    for other in batch[index:]:
                        waiting.remove(other)
                        settle(other, "failed")
                    return False
                received["batch"].append(e.n)
            return True

        for e, name in items:
            if stopped:
                settle(e, "failed")  # not sent: fails with the error that stopped the flush
                continue
            if name == "batch":
                pending.append(e)
                waiting.append(e)
                if len(pending) == BATCH_SIZE:
                    batch, pending = pending, []
                    if not send_batch(batch):
                        stopped = failed = True
            elif name == "fail" and e.x:
                settle(e, "failed")
                stopped = failed = True
            else:  # "rec", "default", "fail" if not x; the retries fail once, then succeed
                received[name].append(e.n)
                settle(e, "dispatched", name)
        if pending and not send_batch(pending):  # after_flush
            failed = True
        for e in waiting:
            settle(e, "dispatched", "batch")
        if failed:
            raise dispatch_error([n for n, (fate, _) in fates.items()
                                  if fate == "failed" and n not in before])

    try:
        scope(top)
    except Escape as escaped:
        failed = getattr(escaped, "failed", None)
        return fates, received, str(escaped) if failed is None else ("Dispatch", failed)
    return fates, received, None


# -- the real thing -----------------------------------------------------------------------------
class Releasing(airlock.Scope):
    """Lets descendants flush on their own (hands back everything offered)."""

    def before_descendant_flushes(
        self, exiting_scope: airlock.Scope, intents: list[airlock.Intent]
    ) -> list[airlock.Intent]:
        return intents


class BadShouldFlush(airlock.Scope):
    def should_flush(self, error: BaseException | None) -> bool:
        raise ValueError("should_flush raised")


class BadHandBack(airlock.Scope):
    def before_descendant_flushes(
        self, exiting_scope: airlock.Scope, intents: list[airlock.Intent]
    ) -> list[airlock.Intent]:
        raise ValueError("before_descendant_flushes raised")


CLASSES: dict[str, type[airlock.Scope]] = {
    "plain": airlock.Scope,
    "release": Releasing,
    "bad_should_flush": BadShouldFlush,
    "bad_hand_back": BadHandBack,
}


def run(op: Open, executors: dict[str, Any]) -> None:
    executor = executors[op.executor] if op.executor else None
    with airlock.scope(make_policy(op.policy), executor=executor, _cls=CLASSES[op.cls]):
        run_steps(op.body, executors)


def run_steps(steps: tuple[Any, ...], executors: dict[str, Any]) -> None:
    for step in steps:
        if isinstance(step, Enqueue):
            enqueue(step)
        elif isinstance(step, Raise):
            raise Boom
        elif isinstance(step, Local):
            with airlock.policy(make_policy(step.policy)):
                run_steps(step.body, executors)
        else:
            try:
                run(step, executors)
            except (Boom, DispatchError):
                if not step.catch:
                    raise


# -- strategies ---------------------------------------------------------------------------------
def scopes(depth: int, min_size: int = 0) -> st.SearchStrategy[Open]:
    """A scope with up to ``depth`` levels of scopes inside it."""
    # one step in twenty raises, one in four opens a scope (while depth allows), and most
    # scopes are caught: else most programs end early
    step = weighted({
        "raise": (1, st.just(Raise())),
        "enqueue": (14, enqueues),
        "open": (5, scopes(depth - 1)) if depth else (0, st.nothing()),
        "local": (2, locals_(depth - 1)) if depth else (0, st.nothing()),
    })
    return st.builds(
        Open,
        policy=st.sampled_from(POLICY_NAMES),
        executor=st.sampled_from([None, *EXECUTOR_NAMES]),
        body=st.lists(step, min_size=min_size, max_size=6).map(tuple),
        catch=st.sampled_from([True, True, False]),
        cls=st.sampled_from(["plain", "plain", "plain", "release", "release",
                             "bad_should_flush", "bad_hand_back"]),
    )


def locals_(depth: int) -> st.SearchStrategy[Local]:
    """A local policy block around steps with up to ``depth`` levels of scopes inside."""
    return st.builds(
        Local,
        policy=st.sampled_from(POLICY_NAMES),
        body=scopes(depth).map(lambda op: op.body),
    )


# the top scope and up to two levels of scopes inside it
programs = scopes(2, min_size=1).map(lambda top: number((top,))[0])


# -- the property -------------------------------------------------------------------------------
def seen_fates(seen: dict) -> list[tuple[Any, ...]]:
    return [event for events in seen.values() for event in events]


def check(program: Open, seen: dict, recorders: dict, executors: dict, escaped: Any) -> None:
    fates, received, escapes = model(program)
    check_fates(seen, fates, executors)
    # nothing sent that the model did not dispatch (discarded, dropped, failed work)
    assert {k: r.got for k, r in recorders.items()} == received
    assert escaped == escapes


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_fates_equal_the_reference_model(program):
    executors, recorders = make_executors(BATCH_SIZE)
    airlock.configure(executor=executors["default"])
    seen, unsubscribe = observe()
    escaped = None
    try:
        run(program, executors)
    except Boom:
        escaped = "Boom"
    except DispatchError as error:
        escaped = ("Dispatch", sorted(i.args[0] for i in error.failed))
        assert {i.id for i in error.unsent} <= {i.id for i in error.failed}
    finally:
        unsubscribe()
    assert airlock.get_current_scope() is None
    for fate in sorted({fate for fate, *_ in seen_fates(seen)}):
        event(f"fate {fate}")  # --hypothesis-show-statistics: how often each fate is reached
    event(f"escaped {escaped if not isinstance(escaped, tuple) else escaped[0]}")
    check(program, seen, recorders, executors, escaped)


# -- the model on known programs ----------------------------------------------------------------
def test_the_model_fails_fast_after_an_executor_error():
    e = [Enqueue("a", None, None, x, False, n) for n, x in enumerate([False, True, False])]
    fates, received, escaped = model(Open("allow", "fail", tuple(e), False))
    assert fates == {0: ("dispatched", "fail"), 1: ("failed", None), 2: ("failed", None)}
    assert received["fail"] == [0]
    assert escaped == ("Dispatch", [1, 2])


def test_the_model_pins_an_inner_explicit_executor_and_judges_locals_at_the_top():
    inner = Open("block_b", "rec", (
        Enqueue("a", "k", "drop", False, False, 1),
        Enqueue("b", None, None, False, False, 2),
        Enqueue("a", None, None, False, False, 3),
    ), False)
    top = Open("allow", None, (Enqueue("a", "k", None, False, False, 0), inner), False)
    fates, received, escaped = model(top)
    assert received["rec"] == [3]
    assert fates == {
        0: ("dispatched", "default"), 1: ("dropped", None), 2: ("dropped", None),
        3: ("dispatched", "rec"),
    }
    assert escaped is None


def test_a_policy_error_in_a_plain_inner_scope_raises_out_of_it():
    inner = Open("raising", None, (
        Enqueue("a", None, None, False, False, 0),
        Enqueue("a", None, None, False, True, 1),
    ), True)
    program = Open("allow", None, (inner, Enqueue("a", None, None, False, False, 2)), False)
    fates, _, escaped = model(program)
    assert fates == {0: ("failed", None), 1: ("failed", None), 2: ("dispatched", "default")}
    assert escaped is None
    executors, recorders = make_executors(BATCH_SIZE)
    airlock.configure(executor=executors["default"])
    seen, unsubscribe = observe()
    try:
        run(program, executors)
    finally:
        unsubscribe()
    assert isinstance(seen[1][0][1], PolicyError)
    check(program, seen, recorders, executors, None)


def test_the_model_lets_children_of_a_releasing_scope_dispatch_themselves():
    child = Open("allow", "rec", (
        Enqueue("a", None, "drop", False, False, 1),  # its local policy still judges it
        Enqueue("a", None, None, False, False, 2),
    ), False)
    middle = Open("allow", "fail", (child,), False, cls="release")
    top = Open("allow", None, (Enqueue("a", None, None, False, False, 0), middle), False,
               cls="bad_hand_back")
    fates, received, escaped = model(top)
    # the top's hook fails the child's intents; the DispatchError escapes the child and the
    # middle scope (not caught), so the top discards its own intent
    assert fates == {0: ("discarded", None), 1: ("failed", None), 2: ("failed", None)}
    assert escaped == ("Dispatch", [1, 2])
    fates, received, escaped = model(top._replace(cls="release"))
    assert fates == {
        0: ("dispatched", "default"), 1: ("dropped", None), 2: ("dispatched", "rec"),
    }
    assert received["rec"] == [2] and escaped is None


# -- outside the model: with_retry around batching -----------------------------------------------
def test_with_retry_around_batching_reports_dispatched_only_what_was_sent():
    recorder = Recorder(fail=True, once=True)
    executor = with_retry(batching(recorder, size=2), attempts=2, backoff=0, sleep=lambda s: 0)
    seen, unsubscribe = observe()
    try:
        with airlock.scope(executor=executor):
            for n in range(3):
                enqueue(Enqueue("a", None, None, n == 0, False, n))  # the send fails once on 0
    finally:
        unsubscribe()
    dispatched = sorted(n for n, events in seen.items() if events[0][0] == "dispatched")
    assert dispatched == sorted(recorder.got)  # was: [0, 1, 2] reported, [1, 2] sent
