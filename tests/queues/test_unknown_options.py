"""Every executor that checks its dispatch options refuses an unknown one with one error type.

``UnknownOptionError`` (a ``UsageError`` and a ``TypeError``), at enqueue, naming the option
and the known ones, whether the executor is used directly, through a wrapper or by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import airlock
from airlock.exceptions import UnknownOptionError, UsageError
from airlock.executors import with_retry
from tests.queues import tasks


def huey_case(name: str) -> Callable[[Any], tuple[Any, Any]]:
    def make(settings: Any) -> tuple[Any, Any]:
        pytest.importorskip("huey")
        from huey import MemoryHuey

        from airlock.integrations.executors import huey as module

        task = MemoryHuey("airlock-options", utc=True).task()(tasks.record)
        return getattr(module, name), task

    return make


def django_tasks_case(settings: Any) -> tuple[Any, Any]:
    import importlib

    if not tasks.DJANGO_TASKS:
        pytest.skip("no Django tasks framework installed")
    from airlock.integrations.executors.django_tasks import django_tasks_executor

    framework, module = next(iter(tasks.DJANGO_TASKS.items()))
    settings.TASKS = {"default": {"BACKEND": f"{framework}.backends.dummy.DummyBackend"}}
    return django_tasks_executor, importlib.import_module(module).record_task


def ray_case(settings: Any) -> tuple[Any, Any]:
    pytest.importorskip("ray")  # prepare() only: no Ray runtime is started
    from airlock.integrations.executors.ray import ray_executor

    return ray_executor(), tasks.record


CASES = {
    "huey_executor": huey_case("huey_executor"),
    "huey_batch_executor": huey_case("huey_batch_executor"),
    "django_tasks_executor": django_tasks_case,
    "ray_executor": ray_case,
}


@pytest.fixture(params=sorted(CASES))
def executor_and_task(request: pytest.FixtureRequest, settings: Any) -> tuple[Any, Any]:
    return CASES[request.param](settings)


def test_an_unknown_option_is_the_same_error_for_every_executor(executor_and_task):
    executor, task = executor_and_task
    with airlock.scope(executor=executor) as scope:
        with pytest.raises(UnknownOptionError) as caught:
            airlock.enqueue(task, "a", _dispatch_options={"bogus": 1})
        assert scope.intents == []
    error = caught.value
    assert isinstance(error, UsageError) and isinstance(error, TypeError)
    assert error.unknown == ["bogus"] and error.known and "bogus" not in error.known
    assert "unknown" in str(error) and "'bogus'" in str(error) and error.known[0] in str(error)


def test_a_wrapper_or_a_name_does_not_change_the_error(executor_and_task):
    executor, task = executor_and_task
    airlock.configure(executors={"queue": executor})
    with airlock.scope(executor=with_retry(executor, attempts=2)):
        with pytest.raises(UnknownOptionError, match="'typo'"):
            airlock.enqueue(task, "a", _dispatch_options={"typo": 1})
        with pytest.raises(UnknownOptionError, match="'typo'"):
            airlock.enqueue(task, "a", _dispatch_options={"executor": "queue", "typo": 1})


def test_ray_executor_options_are_checked_when_it_is_built():
    pytest.importorskip("ray")
    from airlock.integrations.executors.ray import ray_executor

    with pytest.raises(UnknownOptionError, match=r"ray_executor\(\): unknown Ray task options"):
        ray_executor(cpus=1, gpus=1)
