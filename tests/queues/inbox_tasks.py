"""Module-level apply-once tasks for tests/queues/test_inbox_fronts.py (django-q2 pickles them,
Django tasks finds them by path). Each appends what it applied to ``applied``."""

from __future__ import annotations

import importlib.util
from typing import Any

from airlock.integrations.django.inbox import django_q_apply_once, django_tasks_apply_once

applied: list[tuple[str, Any]] = []


@django_q_apply_once
def q_charge(order_id: int) -> str:
    applied.append(("django-q2", order_id))
    return f"charged {order_id}"


charge_task: Any = None
if importlib.util.find_spec("django_tasks"):  # the backport (Django 5.2)
    from django_tasks import task
elif importlib.util.find_spec("django.tasks"):  # pragma: no cover - Django 6+
    from django.tasks import task  # type: ignore[no-redef]
else:  # pragma: no cover
    task = None

if task is not None:

    @task()
    @django_tasks_apply_once(using="default")
    def charge_task(order_id: int) -> str:
        applied.append(("django-tasks", order_id))
        return f"charged {order_id}"
