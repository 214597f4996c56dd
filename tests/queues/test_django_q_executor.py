"""django_q_executor and scope_tasks through django-q2's own synchronous mode (worker + monitor
run in this process and store a real Task row)."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("django_q")

from django_q.models import Task

import airlock
from airlock.integrations.django_q import scope_tasks
from airlock.integrations.executors.django_q import django_q_executor
from tests.failures import raises_dispatch
from tests.queues import tasks

pytestmark = pytest.mark.django_db

SYNC = {"sync": True}


@pytest.fixture(autouse=True)
def _clear_runs():
    tasks.runs.clear()


def test_sends_with_key_as_task_name(settings):
    with airlock.scope(executor=django_q_executor):
        airlock.enqueue(tasks.record, "a", 1, x=2, _key="order-7", _dispatch_options=SYNC)
        intent = airlock.enqueue(tasks.record, "b", _dispatch_options=SYNC)
        assert tasks.runs == []
    assert tasks.runs == [("a", (1,), {"x": 2}), ("b", (), {})]
    stored = {t.name: t for t in Task.objects.all()}
    assert stored["order-7"].result == "a" and stored["order-7"].kwargs == {"x": 2}
    assert stored[intent.id].result == "b"


def test_kwargs_named_like_django_q_options_reach_the_task():
    with airlock.scope(executor=django_q_executor):
        airlock.enqueue(
            tasks.record,
            "a",
            timeout=5,
            group="mine",
            task_name="t",
            _dispatch_options={**SYNC, "group": "airlock"},
        )
    assert tasks.runs == [("a", (), {"timeout": 5, "group": "mine", "task_name": "t"})]
    assert Task.objects.get().group == "airlock"


def test_unpicklable_task_or_argument_fails_at_enqueue_naming_it():
    with airlock.scope(executor=django_q_executor) as scope:
        with pytest.raises(TypeError, match=r"argument 'lock' \(lock"):
            airlock.enqueue(tasks.record, "a", lock=threading.Lock())
        with pytest.raises(TypeError, match="cannot be pickled"):
            airlock.enqueue(lambda: None)
        assert scope.intents == []


def test_scope_tasks_sends_follow_up_only_when_the_task_succeeds():
    sent: list[str] = []
    airlock.configure(executor=lambda intent: sent.append(str(intent)))  # where follow-ups go
    disconnect = scope_tasks()
    try:
        with raises_dispatch(RuntimeError, "parent failed"):  # sync mode fails the flush
            with airlock.scope(executor=django_q_executor):
                airlock.enqueue(tasks.parent, "bad", fail=True, _dispatch_options=SYNC)
        with airlock.scope(executor=django_q_executor):
            airlock.enqueue(tasks.parent, "ok", _dispatch_options=SYNC)
    finally:
        disconnect()
    assert sent == ["record('ok-child')"]
