"""ray_executor against a real local Ray runtime started (and shut down) by this module."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import airlock
import airlock.testing
from airlock.exceptions import UnknownOptionError
from tests.processes import ROOT, wait_until
from tests.services import require_module

require_module("ray", "ray")

import ray  # noqa: E402

from airlock.integrations.executors.ray import ray_executor  # noqa: E402
from integrations.ray import tasks  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_runtime() -> Iterator[None]:
    ray.init(
        num_cpus=1,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    before = airlock.get_configuration()
    airlock.reset_configuration()
    yield
    airlock.reset_configuration()
    airlock.configure(**{k: v for k, v in before.items() if v not in (None, {})})


def test_flush_submits_a_ray_task_that_runs_in_a_worker(tmp_path: Path) -> None:
    out = tmp_path / "out"
    ex = ray_executor()
    with airlock.scope(executor=ex):
        airlock.enqueue(tasks.write, str(out), "hello")
        assert not out.exists()  # buffered until the flush
    wait_until(out.exists, timeout=60, what="the Ray task to write its file")
    text, pid = out.read_text().split(" pid=")
    assert text == "hello" and int(pid) != os.getpid()
    wait_until(lambda: ex.statistics.completed == 1, timeout=30, what="completion to be counted")


def test_executor_returns_the_object_ref() -> None:
    ref = ray_executor()(airlock.Intent(task=tasks.add, args=(2, 3)))
    assert ray.get(ref, timeout=60) == 5


def test_dispatch_options_become_ray_options() -> None:
    ex = ray_executor(num_cpus=1)
    assert ray.get(ex(airlock.Intent(task=tasks.cpus)), timeout=60) == 1.0
    half = airlock.Intent(task=tasks.cpus, dispatch_options={"num_cpus": 0.5})
    assert ray.get(ex(half), timeout=60) == 0.5


def test_unknown_option_or_unserializable_argument_fails_at_enqueue() -> None:
    import threading

    with airlock.scope(executor=ray_executor()) as s:
        with pytest.raises(UnknownOptionError, match="unknown Ray task option 'num_cpu'"):
            airlock.enqueue(tasks.add, 1, 2, _dispatch_options={"num_cpu": 1})
        with pytest.raises(TypeError, match=r"argument 0 \(lock"):
            airlock.enqueue(tasks.write, threading.Lock(), "x")
        assert s.intents == []
    with pytest.raises(UnknownOptionError, match="unknown Ray task option 'cpus'"):
        ray_executor(cpus=1)


def test_a_failing_task_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    ex = ray_executor(max_retries=0)
    with airlock.scope(executor=ex):
        airlock.enqueue(tasks.fail, "bad input")
    wait_until(lambda: ex.statistics.failed == 1, timeout=60, what="the failure to be counted")
    wait_until(
        lambda: any(
            "fail('bad input') failed in <ray_executor" in r.getMessage() for r in caplog.records
        ),
        timeout=10,
        what="the failure to be logged",
    )
    assert ex.statistics.completed == 0
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_task_enqueueing_follow_ups_works_on_the_worker(tmp_path: Path) -> None:
    out = tmp_path / "follow"
    with airlock.scope(executor=ray_executor()):
        airlock.enqueue(tasks.with_follow_up, str(out))
    wait_until(out.exists, timeout=60, what="the follow-up to run")
    assert out.read_text().startswith("follow-up")


def test_ray_executor_has_the_pools_lifecycle_and_completion_events() -> None:
    reported: list[str] = []
    with airlock.testing.capture(execute=True) as seen:
        with ray_executor(max_retries=0, on_error=lambda i, e: reported.append(i.name)) as ex:
            with airlock.scope(executor=ex):
                airlock.enqueue(tasks.add, 40, 2)
                airlock.enqueue(tasks.fail, "bad input")
            assert ex.wait_idle(60)
    ok, bad = seen.records
    assert (ok.fate, ok.outcome, ok.result) == ("dispatched", "completed", 42)
    assert (bad.fate, bad.outcome) == ("dispatched", "task_failed")
    assert "bad input" in str(bad.error)
    s = ex.statistics
    assert (s.submitted, s.completed, s.failed, s.in_flight) == (2, 1, 1, 0)
    assert reported == ["fail"] and "bad input" in str(ex.errors[0][1])
    with airlock.scope(executor=ex) as scope:  # closed on leaving the with block
        with pytest.raises(airlock.UsageError, match="is closed"):
            airlock.enqueue(tasks.add, 1, 2)
        assert scope.intents == []


def test_close_waits_for_submitted_tasks(tmp_path: Path) -> None:
    out = tmp_path / "late"
    ex = ray_executor()
    ex(airlock.Intent(task=tasks.write, args=(str(out), "done")))
    ex.close(timeout=60)
    assert out.read_text().startswith("done") and ex.statistics.in_flight == 0
