"""A scope exited from another thread or asyncio task than it was entered in still settles.

Frameworks do this: a streaming response closed by the server's thread, a request handled by
one task and finished by another. Every intent gets its fate once; the context the scope was
entered in keeps pointing at the finished scope, so code still running there gets a clear
``ScopeStateError`` instead of losing intents.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

import pytest

import airlock
from airlock.exceptions import ScopeStateError

from .conftest import Recorder, send_email

TERMINAL = ("dispatched", "failed", "dropped", "discarded", "rolled_back")


def fates(events):
    return [(event, intent) for event, intent, _ in events if event in TERMINAL]


def in_thread(target: Callable[[], Any]) -> Any:
    """Run ``target`` in a new thread (a context of its own); return or raise what it did."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the thread did not finish in time"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def enter_and_enqueue(scope: airlock.Scope, *numbers: int) -> airlock.Scope:
    scope.enter()
    for n in numbers:
        airlock.enqueue(send_email, n)
    return scope


# -- threads --------------------------------------------------------------------------------
def test_a_scope_entered_in_one_thread_and_flushed_in_another_dispatches_everything_once(events):
    recorder = Recorder()
    scope = in_thread(lambda: enter_and_enqueue(airlock.scope(executor=recorder), 1, 2, 3))

    def finish() -> list[airlock.Intent]:
        scope.exit()
        assert airlock.get_current_scope() is None  # this thread's context is as it was
        return scope.flush()

    flushed = in_thread(finish)
    assert scope.is_flushed and flushed == scope.intents
    assert recorder.calls == ["send_email(1)", "send_email(2)", "send_email(3)"]
    assert fates(events) == [
        ("dispatched", "send_email(1)"),
        ("dispatched", "send_email(2)"),
        ("dispatched", "send_email(3)"),
    ]


def test_a_with_block_exited_from_another_thread_settles_on_error_too(events):
    recorder = Recorder()
    scope = in_thread(lambda: enter_and_enqueue(airlock.scope(executor=recorder), 1))
    in_thread(lambda: scope.__exit__(ValueError, ValueError("failed"), None))
    assert scope.is_discarded and recorder.intents == []
    assert fates(events) == [("discarded", "send_email(1)")]


def test_the_entering_thread_then_gets_a_clear_error_instead_of_losing_an_intent(events):
    recorder = Recorder()
    handed_over, finished = threading.Event(), threading.Event()
    scope = airlock.scope(executor=recorder)

    def worker() -> type[BaseException]:
        enter_and_enqueue(scope, 1)
        handed_over.set()
        assert finished.wait(30)
        with pytest.raises(ScopeStateError, match="it is flushed") as raised:
            airlock.enqueue(send_email, 2)
        return type(raised.value)

    def finish() -> None:
        assert handed_over.wait(30)
        scope.exit()
        scope.flush()
        finished.set()

    closer = threading.Thread(target=finish)
    closer.start()
    assert in_thread(worker) is ScopeStateError
    closer.join(30)
    assert recorder.calls == ["send_email(1)"]
    assert fates(events) == [("dispatched", "send_email(1)")]


# -- asyncio tasks --------------------------------------------------------------------------
async def test_a_scope_entered_in_one_task_and_flushed_in_another_dispatches_everything_once(
    events,
):
    recorder = Recorder()
    scope = airlock.scope(executor=recorder)

    async def first() -> None:
        enter_and_enqueue(scope, 1, 2)

    async def second() -> list[airlock.Intent]:
        scope.exit()
        return scope.flush()

    await asyncio.create_task(first())
    assert airlock.get_current_scope() is None  # the test's own context never saw it
    flushed = await asyncio.create_task(second())
    assert scope.is_flushed and [str(i) for i in flushed] == ["send_email(1)", "send_email(2)"]
    assert recorder.calls == ["send_email(1)", "send_email(2)"]
    assert fates(events) == [("dispatched", "send_email(1)"), ("dispatched", "send_email(2)")]


async def test_an_inner_scope_exited_from_another_task_is_captured_by_the_outer_one(events):
    recorder = Recorder()
    async with airlock.scope(executor=recorder) as outer:
        inner = airlock.scope()

        async def first() -> None:
            enter_and_enqueue(inner, 1)

        async def second() -> None:
            inner.exit()
            inner.flush()

        await asyncio.create_task(first())
        await asyncio.create_task(second())
        assert inner.is_flushed and outer.captured_intents == inner.intents
        assert recorder.intents == []  # the outer scope decides when
        airlock.enqueue(send_email, 2)
    assert recorder.calls == ["send_email(1)", "send_email(2)"]
    assert fates(events) == [("dispatched", "send_email(1)"), ("dispatched", "send_email(2)")]


def test_a_scope_exited_from_a_copied_context_settles_and_leaves_the_original_alone(events):
    recorder = Recorder()
    scope = airlock.scope(executor=recorder)
    context = contextvars.copy_context()
    context.run(enter_and_enqueue, scope, 1)
    assert airlock.get_current_scope() is None
    scope.exit()  # from this context, not the copy it was entered in
    scope.flush()
    assert airlock.get_current_scope() is None
    assert fates(events) == [("dispatched", "send_email(1)")]


def test_exiting_a_foreign_scope_leaves_the_exiting_contexts_own_scope_current(events):
    recorder = Recorder()
    foreign = in_thread(lambda: enter_and_enqueue(airlock.scope(executor=recorder), 1))
    with airlock.scope(executor=recorder) as own:
        foreign.exit()  # e.g. closing another request's streaming response from this thread
        foreign.flush()
        assert airlock.get_current_scope() is own
        airlock.enqueue(send_email, 2)  # still buffered in our own scope
    assert own.is_flushed and [str(i) for i in own.dispatched] == ["send_email(2)"]
    assert fates(events) == [("dispatched", "send_email(1)"), ("dispatched", "send_email(2)")]


def test_leaving_a_foreign_lazy_scope_leaves_the_exiting_contexts_own_scope_current():
    from airlock._context import LazyScope

    lazy = in_thread(lambda: LazyScope.of(airlock.scope).enter())
    with airlock.scope(executor=Recorder()) as own:
        lazy.finish(None)
        assert airlock.get_current_scope() is own
