"""Property: every intent gets exactly one terminal fate, reported once, equal to a reference
model of semantics.md / SPEC 2.2-2.6 for plain (fail-fast) scopes; an executor receives exactly
the intents the model says it dispatched.

A program is one top scope whose body mixes enqueues (task, key, local policy, and two flags:
``x`` makes the failing executors raise on that intent, ``p`` makes ``Raising`` policies raise
on it), ``raise`` steps and nested scopes (each with a policy, an executor or None, and whether
the step that opened it catches what escapes it). ``model`` predicts; ``run`` does it for real.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
from typing import Any, NamedTuple

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import airlock
from airlock import _events
from airlock.exceptions import DispatchError, PolicyError
from airlock.executors import batching, with_retry

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")


# -- programs -----------------------------------------------------------------------------------
class Enqueue(NamedTuple):
    task: str  # "a" or "b" (BlockTasks blocks "b")
    key: str | None
    local: str | None  # a local policy around this enqueue
    x: bool  # the failing executors raise on this intent
    p: bool  # Raising policies raise on this intent
    n: int = -1  # its number (its argument), given after generation


class Raise(NamedTuple):
    pass


class Open(NamedTuple):
    policy: str
    executor: str | None  # None: the configured one / the capturing scope's
    body: tuple[Any, ...]
    catch: bool  # the step catches Boom / DispatchError escaping this scope


POLICY_NAMES = ["allow", "drop", "block_b", "raising"]
EXECUTOR_NAMES = ["rec", "fail", "batch", "retry"]


# -- the reference model ------------------------------------------------------------------------
def allows(policy: str, e: Enqueue) -> bool:
    return policy != "drop" and not (policy == "block_b" and e.task == "b")


def raises(policy: str, e: Enqueue) -> bool:
    return policy == "raising" and e.p


class Escape(Exception):
    """The model's exception escaping a scope: Boom or DispatchError."""


BATCH_SIZE = 2


def model(top: Open) -> tuple[dict[int, tuple[str, str | None]], dict[str, list[int]], str | None]:
    """Fates ``{n: (fate, executor name for dispatched)}``, what each executor's recorder
    received (in order), and the exception escaping the top scope (None, "Boom", "Dispatch")."""
    fates: dict[int, tuple[str, str | None]] = {}
    received: dict[str, list[int]] = {name: [] for name in ("default", *EXECUTOR_NAMES)}

    def settle(e: Enqueue, fate: str, executor: str | None = None) -> None:
        assert e.n not in fates
        fates[e.n] = (fate, executor)

    def take(buffer: list, keys: set, e: Enqueue, pin: str | None) -> None:
        if e.key is not None:
            if e.key in keys:  # a duplicate key collapses to the first (SPEC 2.3)
                settle(e, "dropped")
                return
            keys.add(e.key)
        buffer.append((e, pin))

    def scope(op: Open, is_top: bool) -> list:
        buffer: list = []  # (enqueue, pinned executor) in FIFO order
        keys: set = set()
        try:
            for step in op.body:
                if isinstance(step, Enqueue):
                    take(buffer, keys, step, None)
                elif isinstance(step, Raise):
                    raise Escape("Boom")
                else:
                    try:
                        captured = scope(step, is_top=False)
                    except Escape:
                        if step.catch:
                            continue
                        raise
                    for e, pin in captured:
                        take(buffer, keys, e, pin)
        except Escape:
            for e, _ in buffer:  # an error: the scope discards what it holds
                settle(e, "discarded")
            raise
        # Flush. Judges: the intent's local policy (only where it dispatches: the top), then
        # the scope's policy. A judge that raises fails it; fail-fast: all the rest fail too.
        survivors: list = []
        for index, (e, pin) in enumerate(buffer):
            judges = ([e.local] if is_top and e.local else []) + [op.policy]
            verdict = "pass"
            for judge in judges:
                if raises(judge, e):
                    verdict = "raise"
                    break
                if not allows(judge, e):
                    verdict = "drop"
                    break
            if verdict == "raise":
                for other, _ in [(e, pin), *survivors, *buffer[index + 1 :]]:
                    settle(other, "failed")
                raise Escape("Dispatch")
            if verdict == "drop":
                settle(e, "dropped")
            else:
                survivors.append((e, pin))
        if not is_top:  # captured by the parent; keeps this scope's executor if it was given one
            return [(e, pin or op.executor) for e, pin in survivors]
        dispatch([(e, pin or op.executor or "default") for e, pin in survivors])
        return []

    def dispatch(items: list) -> None:
        """Fail-fast dispatch: the first error stops the loop, every later intent fails."""
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
            else:  # "rec", "default", "retry" (fails once, the retry succeeds), "fail" if not x
                received[name].append(e.n)
                settle(e, "dispatched", name)
        if pending and not send_batch(pending):  # after_flush
            failed = True
        for e in waiting:
            settle(e, "dispatched", "batch")
        # fates are reported in intent order by the engine; the model's dict is unordered
        if failed:
            raise Escape("Dispatch")

    try:
        scope(top, is_top=True)
    except Escape as escaped:
        return fates, received, str(escaped)
    return fates, received, None


# -- the real thing -----------------------------------------------------------------------------
class Boom(Exception):
    pass


def a(n: int, **flags: bool) -> None: ...
def b(n: int, **flags: bool) -> None: ...


TASKS = {"a": a, "b": b}


class Raising(airlock.Policy):
    """allows() raises on the intents flagged ``p``."""

    def allows(self, intent: airlock.Intent) -> bool:
        if intent.kwargs["p"]:
            raise ValueError(f"policy raised on {intent.args[0]}")
        return True

    def __repr__(self) -> str:
        return "Raising()"


def make_policy(name: str) -> airlock.Policy:
    return {
        "allow": airlock.AllowAll,
        "drop": airlock.DropAll,
        "block_b": lambda: airlock.BlockTasks({"b"}),
        "raising": Raising,
    }[name]()


class Recorder:
    """Records the number of each intent it is handed; ``fail``: raises on intents flagged
    ``x``; ``once``: only the first time it sees each of them."""

    def __init__(self, fail: bool = False, once: bool = False) -> None:
        self.got: list[int] = []
        self.fail = fail
        self.once = once
        self.failed_once: set[int] = set()

    def __call__(self, intent: airlock.Intent) -> None:
        n = intent.args[0]
        if self.fail and intent.kwargs["x"] and not (self.once and n in self.failed_once):
            self.failed_once.add(n)
            raise RuntimeError(f"executor failed on {n}")
        self.got.append(n)


def make_executors() -> tuple[dict[str, Any], dict[str, Recorder]]:
    """name -> executor, and name -> the recorder that sees what it really sent."""
    recorders = {
        "default": Recorder(),
        "rec": Recorder(),
        "fail": Recorder(fail=True),
        "batch": Recorder(fail=True),
        "retry": Recorder(fail=True, once=True),
    }
    executors: dict[str, Any] = {
        "default": recorders["default"],
        "rec": recorders["rec"],
        "fail": recorders["fail"],
        "batch": batching(recorders["batch"], size=BATCH_SIZE),
        "retry": with_retry(recorders["retry"], attempts=2, backoff=0, sleep=lambda s: None),
    }
    return executors, recorders


def run(op: Open, executors: dict[str, Any]) -> None:
    executor = executors[op.executor] if op.executor else None
    with airlock.scope(make_policy(op.policy), executor=executor):
        for step in op.body:
            if isinstance(step, Enqueue):
                local = airlock.policy(make_policy(step.local)) if step.local else nullcontext()
                with local:
                    airlock.enqueue(TASKS[step.task], step.n, _key=step.key, x=step.x, p=step.p)
            elif isinstance(step, Raise):
                raise Boom
            else:
                try:
                    run(step, executors)
                except (Boom, DispatchError):
                    if not step.catch:
                        raise


def number(op: Open, counter: itertools.count) -> Open:
    """Give each enqueue a unique number (its argument)."""
    body = []
    for step in op.body:
        if isinstance(step, Enqueue):
            step = step._replace(n=next(counter))
        elif isinstance(step, Open):
            step = number(step, counter)
        body.append(step)
    return op._replace(body=tuple(body))


# -- strategies ---------------------------------------------------------------------------------
rare = st.sampled_from([False, False, False, True])
enqueues = st.builds(
    Enqueue,
    task=st.sampled_from(["a", "b"]),
    key=st.sampled_from([None, None, "k1", "k2"]),
    local=st.sampled_from([None, None, None, *POLICY_NAMES]),
    x=rare,
    p=rare,
)


def scopes(depth: int, min_size: int = 0) -> st.SearchStrategy[Open]:
    """A scope with up to ``depth`` levels of scopes inside it."""
    # one step in twenty raises, one in four opens a scope (while depth allows), and most
    # scopes are caught: else most programs end early
    kinds = {"raise": 1, "enqueue": 14, "open": 5 if depth else 0}
    strategies = {"raise": st.just(Raise()), "enqueue": enqueues}
    if depth:
        strategies["open"] = scopes(depth - 1)
    step = st.sampled_from([k for k, weight in kinds.items() for _ in range(weight)]).flatmap(
        strategies.__getitem__
    )
    return st.builds(
        Open,
        policy=st.sampled_from(POLICY_NAMES),
        executor=st.sampled_from([None, *EXECUTOR_NAMES]),
        body=st.lists(step, min_size=min_size, max_size=6).map(tuple),
        catch=st.sampled_from([True, True, False]),
    )


# the top scope and up to two levels of scopes inside it
programs = scopes(2, min_size=1).map(lambda top: number(top, itertools.count()))


# -- the property -------------------------------------------------------------------------------
def observe() -> tuple[dict[int, list[tuple[str, Any]]], Any]:
    seen: dict[int, list[tuple[str, Any]]] = {}

    def listener(event: str, intent: airlock.Intent, scope: Any, detail: Any) -> None:
        if event in TERMINAL:
            seen.setdefault(intent.args[0], []).append((event, detail))

    return seen, _events.subscribe(listener)


def seen_fates(seen: dict) -> list[tuple[str, Any]]:
    return [event for events in seen.values() for event in events]


def check(program: Open, seen: dict, recorders: dict, executors: dict, escaped: Any) -> None:
    fates, received, escapes = model(program)
    # exactly one terminal fate per intent, reported once
    assert {n: len(events) for n, events in seen.items() if len(events) != 1} == {}
    assert {n: events[0][0] for n, events in seen.items()} == {
        n: fate for n, (fate, _) in fates.items()
    }
    for n, (fate, name) in fates.items():
        detail = seen[n][0][1]
        if fate == "dispatched":
            assert detail is executors[name], (n, detail, name)
        elif fate == "failed":
            assert isinstance(detail, BaseException), (n, detail)
    # nothing sent that the model did not dispatch (discarded, dropped, failed work)
    assert {k: r.got for k, r in recorders.items()} == received
    assert escaped == escapes


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs)
def test_fates_equal_the_reference_model(program):
    executors, recorders = make_executors()
    airlock.configure(executor=executors["default"])
    seen, unsubscribe = observe()
    escaped = None
    try:
        run(program, executors)
    except Boom:
        escaped = "Boom"
    except DispatchError:
        escaped = "Dispatch"
    finally:
        unsubscribe()
    assert airlock.get_current_scope() is None
    for fate in sorted({fate for fate, _ in seen_fates(seen)}):
        event(f"fate {fate}")  # --hypothesis-show-statistics: how often each fate is reached
    event(f"escaped {escaped}")
    check(program, seen, recorders, executors, escaped)


# -- the model on known programs ----------------------------------------------------------------
def test_the_model_fails_fast_after_an_executor_error():
    e = [Enqueue("a", None, None, x, False, n) for n, x in enumerate([False, True, False])]
    fates, received, escaped = model(Open("allow", "fail", tuple(e), False))
    assert fates == {0: ("dispatched", "fail"), 1: ("failed", None), 2: ("failed", None)}
    assert received["fail"] == [0]
    assert escaped == "Dispatch"


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
    executors, recorders = make_executors()
    airlock.configure(executor=executors["default"])
    seen, unsubscribe = observe()
    try:
        run(program, executors)
    finally:
        unsubscribe()
    assert isinstance(seen[1][0][1], PolicyError)
    check(program, seen, recorders, executors, None)
