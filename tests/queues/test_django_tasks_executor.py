"""django_tasks_executor and scope_tasks with the django-tasks backport's own in-process backends
(DummyBackend keeps what was enqueued; ImmediateBackend runs it at once, signals included)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("django_tasks")

from django_tasks import task_backends

import airlock
from airlock.exceptions import UnknownOptionError
from airlock.integrations.django_tasks import scope_tasks
from airlock.integrations.executors.django_tasks import django_tasks_executor
from tests.queues import tasks

DUMMY = {
    "default": {
        "BACKEND": "django_tasks.backends.dummy.DummyBackend",
        "QUEUES": ["default", "other"],
    }
}
IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


@pytest.fixture(autouse=True)
def _clear_runs():
    tasks.runs.clear()


@pytest.fixture
def dummy(settings):
    settings.TASKS = DUMMY
    return task_backends["default"]


def test_enqueues_with_options_after_the_scope(dummy):
    run_after = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with airlock.scope(executor=django_tasks_executor):
        airlock.enqueue(tasks.record_task, "a", 1, x=[2])
        airlock.enqueue(
            tasks.record_task,
            "b",
            _dispatch_options={"queue_name": "other", "priority": 5, "run_after": run_after},
        )
        assert dummy.results == []
    first, second = dummy.results
    assert (first.args, first.kwargs) == (["a", 1], {"x": [2]})
    assert (second.task.queue_name, second.task.priority) == ("other", 5)
    assert second.task.run_after == run_after


def test_relative_run_after_becomes_absolute_at_enqueue(dummy):
    with airlock.scope(executor=django_tasks_executor):
        before = datetime.now(timezone.utc)
        intent = airlock.enqueue(tasks.record_task, "later", _dispatch_options={"run_after": 60})
        run_after = intent.dispatch_options["run_after"]
        assert before + timedelta(seconds=59) < run_after < before + timedelta(seconds=61)
    assert dummy.results[0].task.run_after == run_after


def test_bad_arguments_and_options_fail_at_enqueue(dummy):
    with airlock.scope(executor=django_tasks_executor) as scope:
        with pytest.raises(TypeError, match=r"argument 'lock' \(lock"):
            airlock.enqueue(tasks.record_task, "a", lock=threading.Lock())
        with pytest.raises(Exception, match="Queue 'nope' is not valid"):
            airlock.enqueue(tasks.record_task, "a", _dispatch_options={"queue_name": "nope"})
        with pytest.raises(UnknownOptionError, match="unknown Django tasks dispatch option"):
            airlock.enqueue(tasks.record_task, "a", _dispatch_options={"delay": 5})
        assert scope.intents == []


def test_plain_function_runs_synchronously(dummy):
    with airlock.scope(executor=django_tasks_executor):
        airlock.enqueue(tasks.record, "plain")
    assert tasks.runs == [("plain", (), {})] and dummy.results == []


def test_scope_tasks_sends_follow_up_only_when_the_task_succeeds(settings):
    settings.TASKS = IMMEDIATE
    sent: list[str] = []
    airlock.configure(executor=lambda intent: sent.append(str(intent)))  # where follow-ups go
    disconnect = scope_tasks()
    try:
        with airlock.scope(executor=django_tasks_executor):
            airlock.enqueue(tasks.parent_task, "bad", fail=True)
            airlock.enqueue(tasks.parent_task, "ok")
    finally:
        disconnect()
    assert sent == ["record('ok-child')"]
