"""Tasks of the Django tasks end-to-end suite, run by ``db_worker`` (django-tasks-db), with
``django.tasks`` on Django 6+ and the ``django-tasks`` backport on Django 5.2.

Env: ``AIRLOCK_DJANGO_TASKS_WORKER=1`` in a worker (makes ``django_tasks_executor`` airlock's
executor there; the worker imports this module when it loads its first task, before it runs
it) and ``AIRLOCK_WORKER_NAME``. Tasks record what they ran into Redis DB 5 (key
``airlock:e2e:django_tasks:ran``); ``scope_tasks()`` runs every task in a scope.
"""

from __future__ import annotations

import os
from typing import Any

try:  # Django 6+: django-tasks-db runs django.tasks' own tasks
    from django.tasks import TaskContext, task
except ImportError:  # Django 5.2: the django-tasks backport's
    from django_tasks import TaskContext, task  # type: ignore[assignment,no-redef,unused-ignore]

import airlock
from airlock.integrations.django_tasks import scope_tasks
from integrations.common.recorder import Recorder

OTHER_QUEUE = "airlock_tasks_other"
RECORDER = Recorder(db=5, key="airlock:e2e:django_tasks:ran")
WORKER = os.environ.get("AIRLOCK_WORKER_NAME", "web")

scope_tasks()

if os.environ.get("AIRLOCK_DJANGO_TASKS_WORKER") == "1":
    from airlock.integrations.executors.django_tasks import django_tasks_executor

    airlock.configure(executor=django_tasks_executor)


@task(takes_context=True)
def record(context: TaskContext, label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with its arguments, result id, queue and worker."""
    result = context.task_result
    RECORDER.record(
        label,
        args=list(args),
        kwargs=kwargs,
        worker=WORKER,
        result_id=result.id,
        queue=result.task.queue_name,
    )


@task()
def record_note(label: str, note_id: int) -> None:
    """Read the Note the web request wrote: a task sent before the commit would not find it."""
    from integrations.common.models import Note

    note = Note.objects.filter(pk=note_id).first()
    RECORDER.record(label, args=[note_id], worker=WORKER, text=note.text if note else None)


@task()
def spawn(tag: str, fail: bool) -> None:
    """Enqueue a follow-up, then fail or succeed: the follow-up may leave only on success."""
    RECORDER.record("spawn", args=[tag], worker=WORKER)
    airlock.enqueue(record, "follow-up", tag)
    if fail:
        raise RuntimeError(f"spawn {tag} fails after enqueueing its follow-up")
