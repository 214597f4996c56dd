"""django_tasks_executor and scope_tasks with each tasks framework installed (Django 6's
``django.tasks``, the ``django-tasks`` backport) and its own in-process backends (DummyBackend
keeps what was enqueued; ImmediateBackend runs it at once, signals included)."""

from __future__ import annotations

import importlib
import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.queues import tasks

if not tasks.DJANGO_TASKS:
    pytest.skip("neither django.tasks nor django-tasks installed", allow_module_level=True)

import airlock
from airlock.exceptions import UnknownOptionError
from airlock.integrations.django_tasks import scope_tasks
from airlock.integrations.executors.django_tasks import django_tasks_executor


@pytest.fixture(autouse=True)
def _clear_runs():
    tasks.runs.clear()


@pytest.fixture(params=sorted(tasks.DJANGO_TASKS))
def framework(request):
    """One tasks framework: its tasks, its backends and its ``task_backends``."""
    declared = importlib.import_module(tasks.DJANGO_TASKS[request.param])
    backends = f"{request.param}.backends"
    return SimpleNamespace(
        record_task=declared.record_task,
        parent_task=declared.parent_task,
        task_backends=importlib.import_module(request.param).task_backends,
        dummy={"BACKEND": f"{backends}.dummy.DummyBackend", "QUEUES": ["default", "other"]},
        immediate={"BACKEND": f"{backends}.immediate.ImmediateBackend"},
    )


@pytest.fixture
def dummy(settings, framework):
    settings.TASKS = {"default": framework.dummy}
    return framework.task_backends["default"]


def test_enqueues_with_options_after_the_scope(dummy, framework):
    run_after = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with airlock.scope(executor=django_tasks_executor):
        airlock.enqueue(framework.record_task, "a", 1, x=[2])
        airlock.enqueue(
            framework.record_task,
            "b",
            _dispatch_options={"queue_name": "other", "priority": 5, "run_after": run_after},
        )
        assert dummy.results == []
    first, second = dummy.results
    assert (first.args, first.kwargs) == (["a", 1], {"x": [2]})
    assert (second.task.queue_name, second.task.priority) == ("other", 5)
    assert second.task.run_after == run_after


def test_relative_run_after_becomes_absolute_at_enqueue(dummy, framework):
    with airlock.scope(executor=django_tasks_executor):
        before = datetime.now(timezone.utc)
        options = {"run_after": 60}
        intent = airlock.enqueue(framework.record_task, "later", _dispatch_options=options)
        run_after = intent.dispatch_options["run_after"]
        assert before + timedelta(seconds=59) < run_after < before + timedelta(seconds=61)
    assert dummy.results[0].task.run_after == run_after


def test_bad_arguments_and_options_fail_at_enqueue(dummy, framework):
    with airlock.scope(executor=django_tasks_executor) as scope:
        with pytest.raises(TypeError, match=r"argument 'lock' \(lock"):
            airlock.enqueue(framework.record_task, "a", lock=threading.Lock())
        with pytest.raises(Exception, match="Queue 'nope' is not valid"):
            airlock.enqueue(framework.record_task, "a", _dispatch_options={"queue_name": "nope"})
        with pytest.raises(UnknownOptionError, match="unknown Django tasks dispatch option"):
            airlock.enqueue(framework.record_task, "a", _dispatch_options={"delay": 5})
        assert scope.intents == []


def test_plain_function_runs_synchronously(dummy):
    with airlock.scope(executor=django_tasks_executor):
        airlock.enqueue(tasks.record, "plain")
    assert tasks.runs == [("plain", (), {})] and dummy.results == []


def test_scope_tasks_sends_follow_up_only_when_the_task_succeeds(settings, framework):
    settings.TASKS = {"default": framework.immediate}
    sent: list[str] = []
    airlock.configure(executor=lambda intent: sent.append(str(intent)))  # where follow-ups go
    disconnect = scope_tasks()
    try:
        with airlock.scope(executor=django_tasks_executor):
            airlock.enqueue(framework.parent_task, "bad", fail=True)
            airlock.enqueue(framework.parent_task, "ok")
    finally:
        disconnect()
    assert sent == ["record('ok-child')"]
