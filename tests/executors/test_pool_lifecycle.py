"""Pools: start method, ``with`` blocks, completion events, options and closed pools."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import Any

import pytest

import airlock
import airlock.testing
from airlock.exceptions import UnknownOptionError
from airlock.executors import (
    broadcast,
    process_pool_executor,
    thread_pool_executor,
    with_fallback,
)
from tests.executors import tasks
from tests.processes import running, wait_until


def run_to_the_end(script: str, timeout: float = 90) -> str:
    """Run ``script`` in a child process (its own process group); fail if it is not done in
    ``timeout`` seconds. The group is killed either way, so a hang never hangs the suite."""
    with running(["python", "-c", textwrap.dedent(script)]) as worker:
        try:
            wait_until(lambda: not worker.alive(), timeout=timeout, what="the script to exit")
        except AssertionError:
            pytest.fail(f"the script hung (killed after {timeout}s):\n{worker.output()[-3000:]}")
        assert worker.proc.returncode == 0, worker.output()[-3000:]
        return worker.output()


def test_a_configured_process_pool_runs_a_task_that_enqueues_without_deadlock(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    output = run_to_the_end(
        f"""
        import airlock
        from airlock.executors import process_pool_executor
        from tests.executors import tasks
        pool = process_pool_executor(1)
        airlock.configure(executor=pool)
        with airlock.scope():
            airlock.enqueue(tasks.enqueue_follow_up, {str(out)!r})
        assert pool.wait_idle(60), pool
        pool.close()
        with airlock.scope():  # once more: the exit drain must not hang either
            pass
        print("stats", pool.statistics)
        """
    )
    assert tasks.lines(out) == ["parent", "follow-up"]
    assert "completed=1, failed=0" in output


def test_a_forked_worker_calling_an_inherited_pool_fails_instead_of_hanging(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    output = run_to_the_end(
        f"""
        import multiprocessing, airlock
        from airlock.executors import process_pool_executor
        from tests.executors import tasks
        pool = process_pool_executor(1, mp_context=multiprocessing.get_context("fork"))
        airlock.configure(executor=pool)
        with airlock.scope():
            airlock.enqueue(tasks.enqueue_follow_up, {str(out)!r})
        assert pool.wait_idle(60), pool
        print("error:", pool.errors[0][1])
        """
    )
    assert "belongs to process" in output and "forked child" in output
    assert tasks.lines(out) == ["parent"]  # its follow-up failed at the task's flush


def test_a_pool_is_a_context_manager_that_drains_and_closes(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    with thread_pool_executor(max_workers=2) as pool:
        with airlock.scope(executor=pool):
            for n in range(6):
                airlock.enqueue(tasks.append_line, out, str(n))
    assert sorted(tasks.lines(out)) == [str(n) for n in range(6)]
    assert pool.statistics.completed == 6 and "closed" in repr(pool)


@pytest.mark.parametrize("make", [thread_pool_executor, process_pool_executor])
def test_task_outcomes_reach_capture_as_completion_events(make: Any) -> None:
    with make(max_workers=1) as pool, airlock.testing.capture(execute=True) as seen:
        with airlock.scope(executor=pool):
            airlock.enqueue(tasks.add, 40, 2)
            airlock.enqueue(tasks.fail, "bad input")
        assert pool.wait_idle(60)
    ok, bad = seen.records
    assert (ok.fate, ok.outcome, ok.result, ok.error) == ("dispatched", "completed", 42, None)
    assert (bad.fate, bad.outcome) == ("dispatched", "task_failed")
    assert isinstance(bad.error, ValueError) and str(bad.error) == "bad input"


def test_a_raising_on_error_callback_is_logged_and_the_pool_keeps_counting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def on_error(intent: airlock.Intent, error: BaseException) -> None:
        raise RuntimeError("pager down")

    with thread_pool_executor(max_workers=1, on_error=on_error) as pool:
        for _ in range(2):
            pool(airlock.Intent(task=tasks.fail, args=("x",)))
        assert pool.wait_idle(10)
    assert pool.statistics.failed == 2 and pool.statistics.in_flight == 0
    assert any("on_error callback" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


@pytest.mark.parametrize("make", [thread_pool_executor, process_pool_executor])
def test_a_pool_refuses_an_unknown_option_at_enqueue(make: Any) -> None:
    with make(max_workers=1) as pool:
        with airlock.scope(executor=pool) as s:
            with pytest.raises(UnknownOptionError, match=r"'prioritty'.*takes no dispatch"):
                airlock.enqueue(tasks.add, 1, 2, _dispatch_options={"prioritty": 9})
            assert s.intents == []
        with pytest.raises(UnknownOptionError):  # called directly (e.g. by the relay) too
            pool(airlock.Intent(task=tasks.add, args=(1, 2), dispatch_options={"queue": "q"}))


def test_a_closed_pool_refuses_at_enqueue() -> None:
    pool = thread_pool_executor(max_workers=1)
    pool.close()
    with airlock.scope(executor=pool) as s:
        with pytest.raises(airlock.UsageError, match="is closed"):
            airlock.enqueue(tasks.add, 1, 2)
        assert s.intents == []


class Strict:
    """A real executor that knows some options and refuses any other, like a queue executor."""

    def __init__(self, *known: str) -> None:
        self.known_options = frozenset(known)
        self.received: list[airlock.Intent] = []

    def _check(self, intent: airlock.Intent) -> None:
        unknown = set(intent.dispatch_options) - self.known_options
        if unknown:
            raise UnknownOptionError(f"unknown {unknown}", unknown=unknown)

    def prepare(self, intent: airlock.Intent) -> airlock.Intent:
        self._check(intent)
        return intent

    def __call__(self, intent: airlock.Intent) -> None:
        self._check(intent)
        self.received.append(intent)


def test_broadcast_gives_each_target_only_the_options_it_knows(tmp_path: Path) -> None:
    queue, scheduler = Strict("queue"), Strict("priority")
    with thread_pool_executor(max_workers=1) as pool:
        ex = broadcast(queue, scheduler, pool)
        with airlock.scope(executor=ex):
            airlock.enqueue(tasks.append_line, str(tmp_path / "out"), "ran",
                            _dispatch_options={"queue": "mail", "priority": 3})
            with pytest.raises(UnknownOptionError, match="'bogus'"):
                airlock.enqueue(tasks.add, 1, 2, _dispatch_options={"bogus": 1})
    assert [dict(i.dispatch_options) for i in queue.received] == [{"queue": "mail"}]
    assert [dict(i.dispatch_options) for i in scheduler.received] == [{"priority": 3}]
    assert tasks.lines(tmp_path / "out") == ["ran"]  # the pool got it without options


def test_fallback_gives_each_target_only_the_options_it_knows(tmp_path: Path) -> None:
    class Down(Strict):
        def __call__(self, intent: airlock.Intent) -> None:
            self._check(intent)
            raise ConnectionError("down")

    with thread_pool_executor(max_workers=1) as pool:
        with airlock.scope(executor=with_fallback(Down("queue"), pool)):
            airlock.enqueue(tasks.append_line, str(tmp_path / "out"), "fell back",
                            _dispatch_options={"queue": "mail"})
    assert tasks.lines(tmp_path / "out") == ["fell back"]


@pytest.mark.parametrize("make", [thread_pool_executor, process_pool_executor])
def test_a_pool_future_carries_the_task_result(make: Any) -> None:
    with make(max_workers=1) as pool:
        assert pool(airlock.Intent(task=tasks.add, args=(40, 2))).result(timeout=60) == 42
