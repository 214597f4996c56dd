"""The task registry: the only way an outbox row's task reference becomes a callable again.

A row never stores an import path. It stores ``airlock:<name>`` for a task registered here, or
``celery:<name>`` for a Celery task, which is looked up in the Celery app's own ``app.tasks``.
Anything else in the table is refused, so a tampered row cannot make the relay import or run
arbitrary code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from airlock.exceptions import UnknownTask

__all__ = [
    "UnknownTask",
    "load",
    "name_of",
    "reference_for",
    "register",
    "registered",
    "resolve",
    "unregister",
    "use_celery_app",
]

T = TypeVar("T")

_lock = threading.Lock()
_by_name: dict[str, Any] = {}
_by_task: dict[int, str] = {}
_lookup_app: Any = None


@overload
def register(task: T, /, *, name: str | None = None) -> T: ...
@overload
def register(task: None = None, /, *, name: str | None = None) -> Callable[[T], T]: ...
def register(task: Any = None, /, *, name: str | None = None) -> Any:
    """Let durable intents of ``task`` be stored and relayed; usable as a decorator.

    ``name`` defaults to the task's ``module.qualname`` (or its queue name). Registering the
    same name for another object raises ``ValueError``: a relay must never guess.
    """
    if task is None:
        return lambda t: register(t, name=name)
    if not callable(task) and not hasattr(task, "apply_async"):
        raise TypeError(f"cannot register {task!r}: it is not callable")
    name = name or _default_name(task)
    with _lock:
        known = _by_name.get(name)
        if known is not None and known is not task:
            raise ValueError(
                f"outbox task name {name!r} is already registered for {known!r}; pass "
                "register(task, name='...') to give one of them another name"
            )
        _by_name[name] = task
        _by_task[id(task)] = name
    return task


def unregister(name: str) -> None:
    """Forget a registered task (tests use it)."""
    with _lock:
        task = _by_name.pop(name, None)
        if task is not None:
            _by_task.pop(id(task), None)


def load(paths: tuple[str, ...] | list[str]) -> None:
    """Register the tasks at these dotted paths (from settings, which are code; never a row)."""
    from airlock._config import import_string

    for path in paths:
        task = import_string(path)
        with _lock:
            if _by_task.get(id(task)) is not None:
                continue
        register(task)


def name_of(task: Any) -> str | None:
    """The name ``task`` is registered under, or None."""
    return _by_task.get(id(task))


def registered() -> dict[str, Any]:
    """A copy of the registry: name -> task."""
    with _lock:
        return dict(_by_name)


def _default_name(task: Any) -> str:
    queue_name = getattr(task, "name", None)
    if isinstance(queue_name, str) and queue_name:
        return queue_name
    func = getattr(task, "func", task)
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or type(task).__name__
    return f"{module}.{qualname}"


def _app_of(task: Any) -> Any:
    app = getattr(task, "_app", None) or getattr(task, "app", None)
    return app if app is not None and hasattr(app, "tasks") else None


def reference_for(task: Any) -> str:
    """The reference stored in a row for ``task``; ``TypeError`` if no registry can find it."""
    with _lock:
        name = _by_task.get(id(task))
    if name is not None:
        return f"airlock:{name}"
    celery_name = getattr(task, "name", None)
    app = _app_of(task)
    if app is not None and isinstance(celery_name, str) and celery_name in app.tasks:
        return f"celery:{celery_name}"
    raise TypeError(
        f"{task!r} cannot be dispatched durably: the outbox stores a task only by a name its relay "
        "can look up again (it never imports paths from the table). Register it with "
        "airlock.integrations.django.outbox.register(task) (with SQLAlchemy: "
        "airlock.integrations.sqlalchemy.outbox.register, the same registry) or list it in "
        'AIRLOCK["OUTBOX"]["TASKS"] (Outbox(tasks=[...])), or make it a Celery task.'
    )


def resolve(reference: str) -> Any:
    """The task a row's reference names; ``UnknownTask`` when no registry has it."""
    kind, sep, name = reference.partition(":")
    if sep and kind == "airlock":
        with _lock:
            task = _by_name.get(name)
        if task is not None:
            return task
    elif sep and kind == "celery":
        task = _resolve_celery(name)
        if task is not None:
            return task
    raise UnknownTask(
        f"unknown task reference {reference!r}: it is not registered with the outbox (register()"
        ' or the outbox\'s tasks) nor known to the Celery app; the row may have been '
        "edited, or the task renamed or removed since it was stored"
    )


def use_celery_app(app: Any) -> None:
    """Look Celery task names up in ``app.tasks`` (default: Celery's current app)."""
    global _lookup_app
    _lookup_app = app


def _resolve_celery(name: str) -> Any:
    app = _lookup_app
    if app is None:
        try:
            from celery import current_app
        except ImportError:
            return None
        app = current_app
    try:
        return app.tasks[name]
    except KeyError:
        return None
