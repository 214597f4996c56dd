"""django-q2: run every task's body in a scope, with one line of setup.

``scope_tasks()`` (e.g. in an ``AppConfig.ready()`` the cluster loads) wraps each task a
django-q2 worker runs: intents it enqueued leave when it succeeds and are discarded when it
fails. It hooks django-q2's ``pre_execute`` and ``post_execute_in_worker`` signals, so it covers
functions that were never written for airlock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("django-q", __name__):
    from django_q.signals import post_execute_in_worker, pre_execute

from airlock.integrations._task_scopes import SignalScopes

__all__ = ["scope_tasks"]


def _failure(task: Any = None, **_: Any) -> str | None:
    if task and task.get("success"):
        return None
    return str((task or {}).get("result", "task failed"))


_scopes = SignalScopes("django-q2", pre_execute, post_execute_in_worker, _failure)


def scope_tasks() -> Callable[[], None]:
    """Run every django-q2 task in this process inside a scope; returns a function undoing it.

    Idempotent. A failing flush (the task already succeeded) is logged.
    """
    return _scopes.connect()
