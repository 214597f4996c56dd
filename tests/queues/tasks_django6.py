"""Tasks of the fast Django tasks suite, declared with Django 6's own ``django.tasks``.

Each is a module attribute named like its function: Django 6.1 finds a task again by that path.
"""

from __future__ import annotations

from django.tasks import task

from tests.queues import tasks


@task()
def record_task(label: str, *args: object, **kwargs: object) -> str:
    return tasks.record(label, *args, **kwargs)


@task()
def parent_task(label: str, fail: bool = False) -> None:
    tasks.parent(label, fail)
