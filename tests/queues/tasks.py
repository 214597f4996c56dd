"""Module-level tasks for the fast queue suites (django-q2 and Django tasks import them by path)."""

from __future__ import annotations

import importlib.util

import airlock

runs: list[tuple[object, ...]] = []


def record(label: str, *args: object, **kwargs: object) -> str:
    runs.append((label, args, kwargs))
    return label


def parent(label: str, fail: bool = False) -> None:
    airlock.enqueue(record, f"{label}-child")
    if fail:
        raise RuntimeError("parent failed after enqueueing")


# Django tasks, once per framework installed: "django.tasks" (Django 6+), "django_tasks" (backport).
DJANGO_TASKS: dict[str, str] = {}  # framework -> module of its record_task and parent_task
for _framework, _module in [("django.tasks", "tasks_django6"), ("django_tasks", "tasks_backport")]:
    if importlib.util.find_spec(_framework.split(".")[0]) and importlib.util.find_spec(_framework):
        DJANGO_TASKS[_framework] = f"tests.queues.{_module}"
