"""``sync_executor``: run each task now, in this process, the way a worker would."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from types import CoroutineType, FunctionType
from typing import Any

import airlock
from airlock._context import LazyScope, current
from airlock._intent import Intent

__all__ = ["run_coroutine", "run_inline", "sync_executor"]


def run_inline(task: Any) -> Callable[..., Any]:
    """The plain callable behind a task object: what a worker would call with the arguments."""
    if type(task) is FunctionType:
        return task
    for attr in ("call_local", "fn"):  # huey task, dramatiq actor
        inner = getattr(task, attr, None)
        if callable(inner):
            return inner  # type: ignore[no-any-return]
    if not callable(task) and callable(getattr(task, "func", None)):  # django-tasks Task
        return task.func  # type: ignore[no-any-return]
    return task  # type: ignore[no-any-return]


def sync_executor(intent: Intent) -> Any:
    """Run the task at once, as a worker with task scoping would, and return its result.

    The task runs inside a scope of the configured kind that is made only if the task enqueues
    (its follow-ups flush when it returns, and are discarded when it raises). An ``async def``
    task is run to completion on an event loop of its own (in a helper thread when this thread
    already runs a loop). The task's exception propagates.

    Dispatch options are accepted and ignored, none is refused: ``sync_executor`` stands in for
    the production queue in development and tests, so the options written for that queue must
    not fail here. To have them checked, use the queue's executor (or
    ``logging_executor(like=...)``) in that environment.
    """
    # LazyScope.of(airlock.scope).enter(), inlined: this runs for every task.
    lazy = LazyScope()
    lazy.make, lazy.scope = airlock.scope, None
    lazy.token = _set(lazy)
    try:
        task = intent.task
        if type(task) is not FunctionType:
            task = run_inline(task)
        kwargs = intent.kwargs_or_none
        result = task(*intent.args) if kwargs is None else task(*intent.args, **kwargs)
        if result is not None and type(result) is CoroutineType:  # most tasks return None
            result = run_coroutine(result)
    except BaseException as exc:
        lazy.finish(exc)
        raise
    if lazy.scope is None:  # the task enqueued nothing: only the context to restore
        _reset(lazy.token)
        lazy.make = None  # finished (see LazyScope.finish)
    else:
        lazy.finish(None)
    return result


def run_coroutine(coroutine: Any) -> Any:
    """Run a coroutine to completion from synchronous code, with this context's variables."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # This thread already runs a loop (an async view flushing inline): use a thread of its own.
    context = contextvars.copy_context()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = context.run(asyncio.run, coroutine)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="airlock-async-task")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


_set, _reset = current.set, current.reset
