"""``sync_executor``: run each task now, in this process, the way a worker would."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import airlock
from airlock._intent import Intent

__all__ = ["run_inline", "sync_executor"]


def run_inline(task: Any) -> Callable[..., Any]:
    """The plain callable behind a task object: what a worker would call with the arguments."""
    for attr in ("call_local", "fn"):  # huey task, dramatiq actor
        inner = getattr(task, attr, None)
        if callable(inner):
            return inner  # type: ignore[no-any-return]
    if not callable(task) and callable(getattr(task, "func", None)):  # django-tasks Task
        return task.func  # type: ignore[no-any-return]
    return task  # type: ignore[no-any-return]


def sync_executor(intent: Intent) -> None:
    """Run the task at once, inside a fresh scope of the configured kind.

    A task that itself calls ``enqueue`` therefore works as on a worker with task scoping: its
    follow-ups flush when it returns and are discarded when it raises. Dispatch options are
    ignored. Its exception propagates to the flush.
    """
    with airlock.scope():
        run_inline(intent.task)(*intent.args, **intent.kwargs)
