"""Django tasks: run every task's body in a scope, with one line of setup.

``scope_tasks()`` (e.g. in an ``AppConfig.ready()``) wraps each task the worker (or the
immediate backend) runs: intents it enqueued leave when it succeeds and are discarded when it
fails. It hooks the ``task_started`` / ``task_finished`` signals of every tasks framework
installed: ``django.tasks`` (Django 6+) and the ``django-tasks`` backport.
For one task only, decorate its function: ``@task()`` over ``@airlock.scoped()``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from airlock.integrations._task_scopes import SignalScopes

__all__ = ["scope_tasks"]

# Django 6's own framework first, then the backport: both can be installed, and a worker sends
# the signals of the framework its backend belongs to.
_FRAMEWORKS = ("django.tasks.signals", "django_tasks.signals")


def _failure(task_result: Any = None, **_: Any) -> str | None:
    status = getattr(task_result, "status", None)
    # TaskResultStatus is a str enum in both frameworks.
    return None if status == "SUCCESSFUL" else f"task ended as {status}"


def _signal_scopes() -> list[SignalScopes]:
    found: list[SignalScopes] = []
    missing: ImportError | None = None
    for module in _FRAMEWORKS:
        try:
            signals = importlib.import_module(module)
        except ImportError as exc:
            missing = exc
            continue
        found.append(
            SignalScopes("Django tasks", signals.task_started, signals.task_finished, _failure)
        )
    if not found:
        from airlock.integrations.executors._queues import missing_extra

        assert missing is not None
        raise missing_extra("Django tasks integration", "django-tasks", missing) from missing
    return found


_scopes = _signal_scopes()


def scope_tasks() -> Callable[[], None]:
    """Run every Django task in this process inside a scope; returns a function undoing it.

    Idempotent. A failing flush (the task already succeeded) is logged.
    """
    disconnects = [scopes.connect() for scopes in _scopes]

    def disconnect() -> None:
        for undo in disconnects:
            undo()

    return disconnect
