"""An ``async def`` task a queue's workers would not await is refused at enqueue (SPEC 2.6).

Celery and django-q2 call a task's function and would get a coroutine back that nobody awaits:
the intent would be reported sent and its work never done. Their executors refuse such a task
when it is enqueued, naming it and what to do (huey refuses async functions itself, when the
task is declared; dramatiq and Django tasks run them). A plain ``async def`` function given to the
Celery executor runs in-process (the documented fallback), where it is run to completion.
"""

from __future__ import annotations

import pytest

import airlock
import airlock.testing

pytestmark = pytest.mark.django_db

ran: list[str] = []


async def notify(label: str) -> None:
    ran.append(label)


def test_a_celery_task_whose_body_is_async_is_refused_at_enqueue():
    pytest.importorskip("celery")
    from celery import Celery

    from airlock.integrations.executors.celery import celery_executor

    app = Celery("airlock_async", broker="memory://", set_as_current=False)
    task = app.task(name="tests.async_notify")(notify)
    with airlock.scope(executor=celery_executor) as scope:
        with pytest.raises(TypeError, match=r"async def .* Celery workers do not await"):
            airlock.enqueue(task, "x")
    assert scope.intents == []


def test_a_plain_async_function_under_the_celery_executor_runs_to_completion():
    pytest.importorskip("celery")
    from airlock.integrations.executors.celery import celery_executor

    ran.clear()
    with airlock.testing.capture(execute=True) as seen, airlock.scope(executor=celery_executor):
        airlock.enqueue(notify, "inline")
    assert ran == ["inline"] and [r.fate for r in seen] == ["dispatched"]


def test_an_async_function_for_django_q_is_refused_at_enqueue():
    pytest.importorskip("django_q")
    from airlock.integrations.executors.django_q import django_q_executor

    with airlock.scope(executor=django_q_executor):
        with pytest.raises(TypeError, match="django-q2 workers"):
            airlock.enqueue(notify, "x")
