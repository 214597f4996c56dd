from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import airlock
from airlock.executors import process_pool_executor, thread_pool_executor
from tests.executors import tasks
from tests.processes import ROOT, wait_until


def test_thread_pool_runs_tasks_and_counts_them(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    pool = thread_pool_executor(max_workers=2)
    try:
        with airlock.scope(executor=pool):
            for n in range(5):
                airlock.enqueue(tasks.append_line, out, f"line{n}")
        assert pool.wait_idle(10)
        assert sorted(tasks.lines(out)) == [f"line{n}" for n in range(5)]
        s = pool.statistics
        assert (s.submitted, s.completed, s.failed, s.in_flight) == (5, 5, 0, 0)
    finally:
        pool.close()


def test_thread_pool_runs_each_task_in_a_fresh_scope(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    pool = thread_pool_executor(max_workers=1)
    with airlock.scope(executor=pool):
        airlock.enqueue(tasks.enqueue_follow_up, out)
    pool.close()
    assert tasks.lines(out) == ["parent", "follow-up"]


def test_failures_are_logged_counted_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    reported: list[tuple[str, str]] = []
    pool = thread_pool_executor(on_error=lambda i, e: reported.append((i.name, str(e))))
    with airlock.scope(executor=pool):
        airlock.enqueue(tasks.fail, "boom")
    pool.close()
    assert pool.statistics.failed == 1 and pool.statistics.completed == 0
    assert reported == [("fail", "boom")]
    assert [str(e) for _, e in pool.errors] == ["boom"]
    record = next(r for r in caplog.records if r.name == "airlock.executors")
    assert record.levelno == logging.ERROR and "fail('boom')" in record.getMessage()


def test_bounded_queue_blocks_then_times_out_with_a_clear_error() -> None:
    gate = threading.Event()
    pool = thread_pool_executor(max_workers=1, queue_size=1, timeout=0.05)
    try:
        pool(airlock.Intent(task=gate.wait, args=(10,)))
        pool(airlock.Intent(task=gate.wait, args=(10,)))
        with pytest.raises(airlock.DispatchError, match=r"queue full \(2 queued or running\)"):
            pool(airlock.Intent(task=gate.wait, args=(10,)))
        assert pool.statistics.in_flight == 2
    finally:
        gate.set()
        pool.close()
    assert pool.statistics.completed == 2


def test_close_drains_queued_work_and_refuses_more(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    gate = threading.Event()
    pool = thread_pool_executor(max_workers=1)
    pool(airlock.Intent(task=gate.wait, args=(10,)))
    for n in range(20):
        pool(airlock.Intent(task=tasks.append_line, args=(out, str(n))))
    gate.set()
    pool.close()
    assert tasks.lines(out) == [str(n) for n in range(20)]
    with pytest.raises(airlock.UsageError, match="closed"):
        pool(airlock.Intent(task=tasks.append_line, args=(out, "late")))


def test_eight_producer_threads_lose_nothing(tmp_path: Path) -> None:
    from tests.executors.helpers import run_threads

    out = str(tmp_path / "out")
    pool = thread_pool_executor(max_workers=3, queue_size=4)  # small queue: producers block

    def produce(n: int) -> None:
        with airlock.scope(executor=pool):
            for k in range(25):
                airlock.enqueue(tasks.append_line, out, f"{n}-{k}")

    assert run_threads(8, produce) == []
    pool.close()
    assert sorted(tasks.lines(out)) == sorted(f"{n}-{k}" for n in range(8) for k in range(25))
    assert pool.statistics.completed == 200


def test_queued_work_is_drained_at_interpreter_exit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import threading, airlock
        from airlock.executors import thread_pool_executor
        from tests.executors import tasks
        gate = threading.Event()
        pool = thread_pool_executor(max_workers=1)
        pool(airlock.Intent(task=gate.wait, args=(0.2,)))
        for n in range(10):
            pool(airlock.Intent(task=tasks.append_line, args=({str(out)!r}, str(n))))
        """
    )
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    assert tasks.lines(out) == [str(n) for n in range(10)]


def test_process_pool_checks_pickling_at_enqueue() -> None:
    pool = process_pool_executor(max_workers=1)
    try:
        with airlock.scope(executor=pool) as s:
            with pytest.raises(
                TypeError, match=r"keyword argument 'lock' \(lock\) does not pickle"
            ):
                airlock.enqueue(tasks.append_line, "x", lock=threading.Lock())
            with pytest.raises(TypeError, match=r"its task \(function\) does not pickle"):
                airlock.enqueue(lambda: None)
            assert s.intents == []
    finally:
        pool.close()


def test_process_pool_runs_tasks_in_other_processes(tmp_path: Path) -> None:
    import os

    out = str(tmp_path / "out")
    pool = process_pool_executor(max_workers=2)
    with airlock.scope(executor=pool):
        for _ in range(4):
            airlock.enqueue(tasks.append_pid, out)
        airlock.enqueue(tasks.fail, "in a child")
    wait_until(lambda: pool.statistics.in_flight == 0, timeout=30, what="the pool to finish")
    pool.close()
    pids = tasks.lines(out)
    assert len(pids) == 4 and str(os.getpid()) not in pids
    assert (pool.statistics.completed, pool.statistics.failed) == (4, 1)
    assert str(pool.errors[0][1]) == "in a child"
