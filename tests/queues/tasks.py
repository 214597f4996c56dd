"""Module-level tasks for the fast queue suites (django-q2 and Django tasks import them by path)."""

from __future__ import annotations

import airlock

runs: list[tuple[object, ...]] = []


def record(label: str, *args: object, **kwargs: object) -> str:
    runs.append((label, args, kwargs))
    return label


def parent(label: str, fail: bool = False) -> None:
    airlock.enqueue(record, f"{label}-child")
    if fail:
        raise RuntimeError("parent failed after enqueueing")


try:
    from django_tasks import task
except ImportError:  # pragma: no cover - the Django tasks suite skips without it
    pass
else:
    record_task = task()(record)

    @task()
    def parent_task(label: str, fail: bool = False) -> None:
        airlock.enqueue(record_task, f"{label}-child")
        if fail:
            raise RuntimeError("parent failed after enqueueing")
