"""Celery: run task bodies in scopes, and migrate code that still calls ``.delay()``.

Task scoping (one line of setup, pick one):

- ``Celery(..., task_cls="airlock.integrations.celery:ScopedTask")`` (or ``base=ScopedTask``
  per task): every run of a task body happens inside ``airlock.scope()``; intents it enqueued
  flush when it returns and are discarded when it raises (including ``Retry``).
- ``scope_all_tasks()``: the same through Celery's ``task_prerun``/``task_postrun`` signals, for
  apps that already have their own task base class.

Migration from ``.delay()``: ``AirlockTask`` (a ``ScopedTask``) and the opt-in global
``install()`` route ``.delay()`` / ``.apply_async()`` called inside a scope through
``airlock.enqueue`` with a ``DeprecationWarning``; outside a scope they pass straight through.
At flush such a call reaches the broker through the task's own ``apply_async`` (never run
inline, never intercepted again), whatever the scope's executor is.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

from airlock.integrations._extras import require

with require("celery", __name__):
    import celery
    from celery import signals, states
    from celery.app.task import Task
    from celery.utils import uuid

import airlock
from airlock._intent import task_name
from airlock._scope import Scope
from airlock._sending import _sending, is_sending, sending
from airlock.integrations.executors.celery import absolute_times, check_serializable

logger = logging.getLogger("airlock")

__all__ = [
    "AirlockTask",
    "DeferredCall",
    "ScopedTask",
    "install",
    "is_installed",
    "scope_all_tasks",
    "uninstall",
]


class ScopedTask(Task):  # type: ignore[misc]
    """Celery task base class: each run of the body happens inside ``airlock.scope()``.

    Follow-ups the body enqueues leave when it returns and are discarded when it raises. A
    failing flush makes the task fail (unlike the signal hooks, which can only log it).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # An eager task run while airlock publishes must still defer its own follow-ups.
        token = _sending.set(False) if is_sending() else None
        try:
            with airlock.scope():
                return super().__call__(*args, **kwargs)
        finally:
            if token is not None:
                _sending.reset(token)


_local = threading.local()


def _open_scopes() -> list[tuple[str | None, Scope]]:
    stack: list[tuple[str | None, Scope]] | None = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def _on_prerun(task_id: str | None = None, **_: Any) -> None:
    # A stack, not one slot: an eager task (apply(), task_always_eager) runs inside another.
    _open_scopes().append((task_id, airlock.scope().enter()))


def _on_postrun(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    stack = _open_scopes()
    index = next((i for i in range(len(stack) - 1, -1, -1) if stack[i][0] == task_id), None)
    if index is None:
        return
    finished = [scope for _, scope in reversed(stack[index:])]
    del stack[index:]
    for scope in finished:  # innermost first; any above ours lost their postrun: discard them
        ok = scope is finished[-1] and state == states.SUCCESS
        try:
            scope.exit()
            if ok:
                scope.flush()
            else:
                scope.discard()
        except Exception:
            logger.exception("airlock: finishing the scope of Celery task %s failed", task_id)


def scope_all_tasks() -> Callable[[], None]:
    """Run every Celery task body in this process inside a scope, through signals.

    Call once at worker start-up (e.g. next to the app definition). Returns a function that
    disconnects the hooks again. A flush error is only logged (the task has already succeeded);
    use ``ScopedTask`` when it must fail the task.
    """
    signals.task_prerun.connect(_on_prerun, weak=False, dispatch_uid="airlock.prerun")
    signals.task_postrun.connect(_on_postrun, weak=False, dispatch_uid="airlock.postrun")

    def disconnect() -> None:
        signals.task_prerun.disconnect(_on_prerun, dispatch_uid="airlock.prerun")
        signals.task_postrun.disconnect(_on_postrun, dispatch_uid="airlock.postrun")

    return disconnect


class DeferredCall:
    """A ``.delay()``/``.apply_async()`` held in a scope: the task plus its Celery options.

    Calling it (any executor that runs plain callables) or its ``apply_async`` (the Celery
    executor) publishes through the task's own ``apply_async``, with interception off.
    """

    __slots__ = ("name", "options", "task")

    def __init__(self, task: Any, options: Mapping[str, Any]) -> None:
        self.task = task
        self.options = dict(options)
        self.name: str = task.name

    def apply_async(
        self, args: Any = None, kwargs: Any = None, **extra: Any
    ) -> Any:  # the executor's task_id yields to the one the caller already holds
        with sending():
            return self.task.apply_async(args, kwargs, **{**extra, **self.options})

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.apply_async(args, kwargs)

    def __repr__(self) -> str:
        return f"<DeferredCall {self.name} {self.options!r}>"


_CELERY_DIR = os.path.dirname(celery.__file__) + os.sep
_TRACER = os.path.join(_CELERY_DIR, "app", "trace.py")
_BACKENDS = os.path.join(_CELERY_DIR, "backends") + os.sep
_TASK = os.path.join(_CELERY_DIR, "app", "task.py")
_SENDS_NOW = frozenset({"retry", "on_replace", "add_to_chord"})


def _called_by_celery() -> bool:
    """True when Celery itself publishes: a retry, a replacement, a chord step, the tracer's
    callbacks and errbacks. Those are not the application's effects and must leave now (held in
    a task's scope, a retry would be discarded with the ``Retry`` exception that follows it).
    """
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if path != __file__:
            if not path.startswith(_CELERY_DIR):
                return False  # the first caller outside Celery is application code
            if path == _TRACER or path.startswith(_BACKENDS):
                return True
            if path == _TASK and frame.f_code.co_name in _SENDS_NOW:
                return True
        frame = frame.f_back
    return False


def _route(
    task: Any,
    original: Callable[..., Any],
    args: Any,
    kwargs: Any,
    options: dict[str, Any],
    stacklevel: int,
) -> Any:
    if is_sending() or airlock.get_current_scope() is None or _called_by_celery():
        return original(args, kwargs, **options)
    warnings.warn(
        f"{task.name}.delay()/.apply_async() inside an airlock scope is deferred until the "
        "scope flushes; call airlock.enqueue(task, ...) instead",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    args = tuple(args or ())
    kwargs = dict(kwargs or {})
    options.pop("producer", None)  # bound to a connection that is gone by flush time
    options = absolute_times(options)
    options["task_id"] = options.get("task_id") or uuid()
    check_serializable(task, args, kwargs, options)
    airlock.enqueue(
        DeferredCall(task, options),
        *args,
        _name=task_name(task),
        _origin="celery .delay()/.apply_async() intercept",
        **kwargs,
    )
    return task.AsyncResult(options["task_id"])


class AirlockTask(ScopedTask):
    """Migration base class: a ``ScopedTask`` whose ``.delay()``/``.apply_async()`` made inside a
    scope go through ``airlock.enqueue`` (``DeprecationWarning``) and pass through outside one.

    The returned ``AsyncResult`` already carries the task id the message will have.
    """

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return _route(self, super().apply_async, args, kwargs, options, stacklevel=2)

    def delay(self, *args: Any, **kwargs: Any) -> Any:
        return _route(self, super().apply_async, args, kwargs, {}, stacklevel=2)


_originals: dict[str, Any] = {}


def install() -> None:
    """Opt in, process-wide: intercept ``.delay()``/``.apply_async()`` of every Celery task.

    Inside a scope the call becomes an intent (``DeprecationWarning``); outside one it passes
    through. Idempotent; ``uninstall()`` restores Celery's methods.
    """
    if _originals:
        return
    original_apply = Task.apply_async
    _originals.update(apply_async=original_apply, delay=Task.delay)

    def apply_async(self: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        return _route(self, original_apply.__get__(self), args, kwargs, options, stacklevel=2)

    def delay(self: Any, *args: Any, **kwargs: Any) -> Any:
        return _route(self, self.apply_async, args, kwargs, {}, stacklevel=2)

    Task.apply_async = apply_async
    Task.delay = delay


def uninstall() -> None:
    """Undo ``install()``; a no-op when it is not installed."""
    if not _originals:
        return
    Task.apply_async = _originals.pop("apply_async")
    Task.delay = _originals.pop("delay")


def is_installed() -> bool:
    """True between ``install()`` and ``uninstall()``."""
    return bool(_originals)
