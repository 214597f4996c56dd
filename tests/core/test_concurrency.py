"""Isolation: threads, asyncio tasks and gevent greenlets each see only their own scope (§2).

Each unit of work enqueues intents tagged with its own identity, yielding to the others between
enqueues so that they interleave; every scope must dispatch exactly its own intents, in order.
"""

from __future__ import annotations

import asyncio
import sys
import threading

import pytest

import airlock

THREADS, SCOPES_PER_THREAD, INTENTS_PER_SCOPE = 50, 200, 3
TASKS = 500
GREENLETS = 500


def tagged(owner: object, n: int) -> None:
    """The task; never run (each scope records instead)."""


def check_scope(owner: object, scope: airlock.Scope, got: list[airlock.Intent]) -> list[str]:
    """Problems with one finished scope: foreign intents, missing ones, or wrong order."""
    problems = []
    if [i.args for i in got] != [(owner, n) for n in range(INTENTS_PER_SCOPE)]:
        problems.append(f"{owner}: dispatched {[i.args for i in got]}")
    if scope.dispatched != got or not scope.is_flushed:
        problems.append(f"{owner}: scope state {scope!r}")
    return problems


def test_threads_each_enqueue_into_their_own_scope():
    problems: list[str] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        start.wait()
        for s in range(SCOPES_PER_THREAD):
            owner = (t, s)
            got: list[airlock.Intent] = []
            with airlock.scope(executor=got.append) as scope:
                for n in range(INTENTS_PER_SCOPE):
                    if airlock.get_current_scope() is not scope:
                        problems.append(f"{owner}: saw another scope")
                    airlock.enqueue(tagged, owner, n)
                    if n == 1:
                        # Nest one level: the inner scope must be captured by *this* outer one.
                        with airlock.scope(executor=got.append):
                            pass
            problems.extend(check_scope(owner, scope, got))
        if airlock.get_current_scope() is not None:
            problems.append(f"thread {t} left a scope active")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so scopes interleave
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == []


def test_a_thread_started_inside_a_scope_does_not_see_it():
    seen = []
    with airlock.scope(executor=lambda intent: None):
        thread = threading.Thread(target=lambda: seen.append(airlock.get_current_scope()))
        thread.start()
        thread.join()
    assert seen == [None]


async def test_asyncio_tasks_each_enqueue_into_their_own_scope():
    problems: list[str] = []

    async def unit(owner: int) -> None:
        got: list[airlock.Intent] = []
        async with airlock.scope(executor=got.append) as scope:
            for n in range(INTENTS_PER_SCOPE):
                await asyncio.sleep(0)  # let the other tasks run between enqueues
                if airlock.get_current_scope() is not scope:
                    problems.append(f"{owner}: saw another scope")
                airlock.enqueue(tagged, owner, n)
        problems.extend(check_scope(owner, scope, got))

    await asyncio.gather(*(unit(owner) for owner in range(TASKS)))
    assert problems == []
    assert airlock.get_current_scope() is None


async def test_asyncio_tasks_started_inside_a_scope_enqueue_into_it_and_their_own_scopes_nest():
    got: list[airlock.Intent] = []

    async def child(n: int) -> None:
        await asyncio.sleep(0)
        async with airlock.scope(executor=got.append):
            airlock.enqueue(tagged, "child", n)

    async with airlock.scope(executor=got.append) as outer:
        await asyncio.gather(*(child(n) for n in range(10)))
        assert got == []  # captured by the outer scope, whose context the tasks copied
        assert len(outer.captured_intents) == 10
    assert sorted(i.args[1] for i in got) == list(range(10))


def test_gevent_greenlets_each_enqueue_into_their_own_scope():
    gevent = pytest.importorskip("gevent")  # no monkey-patching: plain greenlet switching
    problems: list[str] = []

    def unit(owner: int) -> None:
        got: list[airlock.Intent] = []
        with airlock.scope(executor=got.append) as scope:
            for n in range(INTENTS_PER_SCOPE):
                gevent.sleep(0)  # switch to the other greenlets between enqueues
                if airlock.get_current_scope() is not scope:
                    problems.append(f"{owner}: saw another scope")
                airlock.enqueue(tagged, owner, n)
        problems.extend(check_scope(owner, scope, got))

    greenlets = [gevent.spawn(unit, owner) for owner in range(GREENLETS)]
    gevent.joinall(greenlets, raise_error=True)
    assert all(g.successful() for g in greenlets)
    assert problems == []
    assert airlock.get_current_scope() is None
