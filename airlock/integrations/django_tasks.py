"""Django tasks: run every task's body in a scope, with one line of setup.

``scope_tasks()`` (e.g. in an ``AppConfig.ready()``) wraps each task the worker (or the
immediate backend) runs: intents it enqueued leave when it succeeds and are discarded when it
fails. It hooks the ``task_started`` / ``task_finished`` signals of the ``django-tasks`` backport.
For one task only, decorate its function: ``@task()`` over ``@airlock.scoped()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

try:
    from django_tasks import TaskResultStatus
    from django_tasks.signals import task_finished, task_started
except ImportError:  # Django 6 ships the framework itself (it needs Python 3.12)
    with require("django-tasks", __name__):
        from django.tasks import TaskResultStatus  # type: ignore[attr-defined,assignment,no-redef,unused-ignore]
        from django.tasks.signals import (  # type: ignore[import-untyped,import-not-found,no-redef,unused-ignore]
            task_finished,
            task_started,
        )

from airlock.integrations._task_scopes import SignalScopes

__all__ = ["scope_tasks"]


def _failure(task_result: Any = None, **_: Any) -> str | None:
    status = getattr(task_result, "status", None)
    return None if status == TaskResultStatus.SUCCESSFUL else f"task ended as {status}"


_scopes = SignalScopes("Django tasks", task_started, task_finished, _failure)


def scope_tasks() -> Callable[[], None]:
    """Run every Django task in this process inside a scope; returns a function undoing it.

    Idempotent. A failing flush (the task already succeeded) is logged.
    """
    return _scopes.connect()
