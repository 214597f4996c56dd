"""The vocabulary of the lifecycle property tests (tests/core and tests/django
``test_lifecycle_model.py``): program steps, the policies and executors they name, the model's
judging rule, and how the real fates are observed.

An ``Enqueue`` step carries two flags: ``x`` makes the failing executors raise on that intent,
``p`` makes ``Raising`` policies raise on it. Each intent's first argument is its number ``n``,
unique in a program, so fates and sends can be matched to steps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, NamedTuple

from hypothesis import strategies as st

import airlock
from airlock import _events
from airlock.executors import batching, with_retry

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")
POLICY_NAMES = ["allow", "drop", "block_b", "raising"]
EXECUTOR_NAMES = ["rec", "fail", "batch", "retry", "batch_retry"]


class Enqueue(NamedTuple):
    task: str  # "a" or "b" (BlockTasks blocks "b")
    key: str | None
    local: str | None  # a local policy (airlock.policy) around this enqueue
    x: bool  # the failing executors raise on this intent
    p: bool  # Raising policies raise on this intent
    n: int = -1  # its number (its argument), given after generation


class Raise(NamedTuple):
    """Raise ``Boom`` here."""


class Local(NamedTuple):
    """``airlock.policy(policy)`` around ``body``: intents enqueued inside carry it, also in
    scopes opened inside."""

    policy: str
    body: tuple[Any, ...]


class Escape(Exception):
    """In a model: the exception escaping a block (``str()``: "Boom" or "Dispatch")."""


# -- the model's judging rule -------------------------------------------------------------------
def local_policies(steps: tuple[Any, ...], outer: tuple[str, ...] = ()) -> dict[int, list[str]]:
    """Each enqueue's local policies, innermost first: its own, then the ``Local`` blocks
    around it (through any scopes in between)."""
    found: dict[int, list[str]] = {}
    for step in steps:
        if isinstance(step, Enqueue):
            found[step.n] = ([step.local] if step.local else []) + list(outer)
        elif isinstance(step, Local):
            found.update(local_policies(step.body, (step.policy, *outer)))
        elif hasattr(step, "body"):
            found.update(local_policies(step.body, outer))
    return found


def verdict(judges: list[str], e: Enqueue) -> str:
    """What the policies named ``judges``, asked in order, make of an intent at flush:
    "raise" (the first that raises), "drop" (the first that refuses) or "pass"."""
    for judge in judges:
        if judge == "raising" and e.p:
            return "raise"
        if judge == "drop" or (judge == "block_b" and e.task == "b"):
            return "drop"
    return "pass"


# -- the real things the steps name -------------------------------------------------------------
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


def enqueue(step: Enqueue) -> None:
    local: AbstractContextManager[Any] = (
        airlock.policy(make_policy(step.local)) if step.local else nullcontext()
    )
    with local:
        airlock.enqueue(TASKS[step.task], step.n, _key=step.key, x=step.x, p=step.p)


class Recorder:
    """Records the number of each intent it is handed; ``fail``: raises on intents flagged
    ``x``; ``once``: only the first time it is handed each of them."""

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


def make_executors(batch_size: int) -> tuple[dict[str, Any], dict[str, Recorder]]:
    """name -> executor, and name -> the recorder that sees what that executor really sent.

    "default" is for ``configure(executor=...)``; "rec" records; "fail" raises on ``x``;
    "batch" is ``batching`` around a recorder that raises on ``x`` (so its send fails);
    "retry" is ``with_retry`` around a recorder that raises once on ``x``; "batch_retry" is
    ``batching`` around such a ``with_retry`` (so every intent goes, in batches).
    """
    recorders = {
        "default": Recorder(),
        "rec": Recorder(),
        "fail": Recorder(fail=True),
        "batch": Recorder(fail=True),
        "retry": Recorder(fail=True, once=True),
        "batch_retry": Recorder(fail=True, once=True),
    }

    def retry(recorder: Recorder) -> Any:
        return with_retry(recorder, attempts=2, backoff=0, sleep=lambda s: None)

    executors: dict[str, Any] = {
        "default": recorders["default"],
        "rec": recorders["rec"],
        "fail": recorders["fail"],
        "batch": batching(recorders["batch"], size=batch_size),
        "retry": retry(recorders["retry"]),
        "batch_retry": batching(retry(recorders["batch_retry"]), size=batch_size),
    }
    return executors, recorders


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


def weighted(choices: dict[str, tuple[int, st.SearchStrategy[Any]]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each drawn in proportion to its weight (0: never)."""
    names = [name for name, (weight, _) in choices.items() for _ in range(weight)]
    return st.sampled_from(names).flatmap(lambda name: choices[name][1])


def number(steps: tuple[Any, ...], counter: Callable[[], int] | None = None) -> tuple[Any, ...]:
    """The steps with each enqueue given a unique number, in program order."""
    if counter is None:
        counter = itertools.count().__next__
    out = []
    for step in steps:
        if isinstance(step, Enqueue):
            step = step._replace(n=counter())
        elif hasattr(step, "body"):
            step = step._replace(body=number(step.body, counter))
        out.append(step)
    return tuple(out)


# -- observing ----------------------------------------------------------------------------------
def observe() -> tuple[dict[int, list[tuple[str, Any, Any, airlock.Intent]]], Callable[[], None]]:
    """Start recording every terminal fate event as ``{n: [(fate, detail, scope, intent),
    ...]}``; returns the record and the function that stops it."""
    seen: dict[int, list[tuple[str, Any, Any, airlock.Intent]]] = {}

    def listener(event: str, intent: airlock.Intent, scope: Any, detail: Any) -> None:
        if event in TERMINAL:
            seen.setdefault(intent.args[0], []).append((event, detail, scope, intent))

    return seen, _events.subscribe(listener)


def check_fates(
    seen: dict[int, list[tuple[str, Any, Any, airlock.Intent]]],
    fates: dict[int, tuple[str, str | None]],
    executors: dict[str, Any],
) -> None:
    """Each intent reported exactly once, with the model's fate; a dispatched one with the
    model's executor as detail, a failed one with an exception; and the scope that reported
    it lists it in its ``dispatched`` / ``failed`` / ``dropped``."""
    assert {n: len(events) for n, events in seen.items() if len(events) != 1} == {}
    assert {n: events[0][0] for n, events in seen.items()} == {
        n: fate for n, (fate, _) in fates.items()
    }
    for n, (fate, name) in fates.items():
        _, detail, scope, intent = seen[n][0]
        if fate == "dispatched":
            assert detail is executors[name], (n, detail, name)
            assert any(i is intent for i in scope.dispatched), (n, scope)
        elif fate == "failed":
            assert isinstance(detail, BaseException), (n, detail)
            assert any(i is intent and e is detail for i, e in scope.failed), (n, scope)
        elif fate == "dropped":
            assert any(i is intent and r is detail for i, r in scope.dropped), (n, scope)
