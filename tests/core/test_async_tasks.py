"""``async def`` tasks run to completion in-process: never "dispatched" without running.

``sync_executor`` runs the coroutine (on a loop of its own, or in a helper thread when the
flushing thread already runs one); the thread and process pools do the same in their workers,
and their futures carry the task's result.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

import airlock
from airlock.exceptions import DispatchError
from airlock.executors import process_pool_executor, thread_pool_executor
from airlock.integrations.executors.sync import sync_executor
from airlock.testing import capture

RAN: list[str] = []
_lock = threading.Lock()


def ran(label: str) -> None:
    with _lock:
        RAN.append(label)


@pytest.fixture(autouse=True)
def _clean_ran():
    RAN.clear()
    yield
    RAN.clear()


def follow_up(label: str) -> None:
    ran(f"follow-up {label}")


async def send_later(label: str) -> None:
    """An async task that awaits, records, and enqueues a follow-up."""
    await asyncio.sleep(0)
    ran(label)
    airlock.enqueue(follow_up, label)


async def answer() -> int:
    await asyncio.sleep(0)
    return 42


def sync_answer() -> int:
    return 42


async def fails() -> None:
    await asyncio.sleep(0)
    raise LookupError("async task failed")


# -- sync_executor --------------------------------------------------------------------------
def test_sync_executor_runs_an_async_task_to_completion_and_flushes_its_follow_up():
    with capture(execute=True) as seen:
        with airlock.scope():
            airlock.enqueue(send_later, "a")
    assert RAN == ["a", "follow-up a"]
    assert [(r.name, r.fate) for r in seen] == [
        ("send_later", "dispatched"),
        ("follow_up", "dispatched"),
    ]


def test_sync_executor_returns_the_async_tasks_result():
    assert sync_executor(airlock.Intent(task=answer)) == 42


async def test_an_async_task_flushed_inside_a_running_event_loop_still_runs_to_completion():
    loop_thread = threading.get_ident()
    with capture(execute=True) as seen:
        async with airlock.scope():
            airlock.enqueue(send_later, "in a loop")
        assert threading.get_ident() == loop_thread  # the flush ran right here, in the loop
    assert RAN == ["in a loop", "follow-up in a loop"]
    assert [r.fate for r in seen] == ["dispatched", "dispatched"]
    assert asyncio.get_running_loop().is_running()  # our loop was left alone


async def test_sync_executor_called_inside_a_running_loop_returns_the_result():
    assert sync_executor(airlock.Intent(task=answer)) == 42


def test_an_async_task_that_raises_is_failed_not_dispatched():
    with capture(execute=True) as seen:
        with pytest.raises(DispatchError) as raised:
            with airlock.scope():
                airlock.enqueue(fails)
    assert [r.fate for r in seen] == ["failed"]
    assert isinstance(raised.value.__cause__, LookupError)


async def test_an_async_task_that_raises_inside_a_running_loop_is_failed_not_dispatched():
    with capture(execute=True) as seen:
        with pytest.raises(DispatchError):
            async with airlock.scope():
                airlock.enqueue(fails)
    assert [r.fate for r in seen] == ["failed"]
    assert isinstance(seen[0].detail, LookupError)


def test_an_async_tasks_follow_ups_are_discarded_when_it_raises():
    async def enqueue_then_fail() -> None:
        airlock.enqueue(follow_up, "never")
        raise LookupError("after enqueueing")

    with capture(execute=True) as seen:
        with pytest.raises(DispatchError):
            with airlock.scope():
                airlock.enqueue(enqueue_then_fail)
    assert RAN == []
    assert [(r.name, r.fate) for r in seen] == [
        ("enqueue_then_fail", "failed"),
        ("follow_up", "discarded"),
    ]


# -- pools ----------------------------------------------------------------------------------
@pytest.fixture
def thread_pool():
    pool = thread_pool_executor(max_workers=2)
    yield pool
    pool.close()


@pytest.fixture
def process_pool():
    pool = process_pool_executor(max_workers=1)
    yield pool
    pool.close()


@pytest.mark.parametrize("task", [answer, sync_answer], ids=["async", "sync"])
def test_a_thread_pools_future_carries_the_tasks_result(thread_pool, task):
    future = thread_pool(airlock.Intent(task=task))
    assert future.result(timeout=30) == 42


@pytest.mark.parametrize("task", [answer, sync_answer], ids=["async", "sync"])
def test_a_process_pools_future_carries_the_tasks_result(process_pool, task):
    future = process_pool(airlock.Intent(task=task))
    assert future.result(timeout=60) == 42


def test_a_thread_pool_runs_an_async_task_and_its_follow_up_in_the_worker(thread_pool):
    with capture(execute=True) as seen:
        with airlock.scope(executor=thread_pool):
            airlock.enqueue(send_later, "pooled")
        assert thread_pool.wait_idle(timeout=30)
    assert RAN == ["pooled", "follow-up pooled"]
    assert [(r.name, r.fate) for r in seen] == [
        ("send_later", "dispatched"),
        ("follow_up", "dispatched"),
    ]


def test_a_failing_async_task_in_a_pool_is_counted_and_its_future_carries_the_error(thread_pool):
    future = thread_pool(airlock.Intent(task=fails))
    with pytest.raises(LookupError, match="async task failed"):
        future.result(timeout=30)
    assert thread_pool.wait_idle(timeout=30)
    assert thread_pool.statistics.failed == 1
    assert [type(e) for _, e in thread_pool.errors] == [LookupError]
