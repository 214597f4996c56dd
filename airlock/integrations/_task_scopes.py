"""Open a scope when a queue's task starts and finish it when the task ends (hook-based queues).

Used by the dramatiq middleware, the huey hooks and the django-q2 / Django tasks signal
receivers: one scope per worker thread at a time, flushed on success, discarded on failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import airlock
from airlock._scope import Scope
from airlock.exceptions import AirlockError

__all__ = ["SignalScopes", "TaskFailed", "TaskScopes"]

logger = logging.getLogger("airlock")


class TaskFailed(AirlockError):
    """Stands for a task failure the queue reports without an exception object."""


class TaskScopes:
    """Per-thread scopes around task bodies: ``start()`` before, ``finish(error)`` after."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self._local = threading.local()

    def start(self) -> Scope:
        stale: Scope | None = getattr(self._local, "scope", None)
        if stale is not None:  # the queue skipped our end hook (e.g. an interrupted task)
            self._local.scope = None
            if stale.is_active:
                stale.exit()
                stale.discard()
        scope = airlock.scope().enter()
        self._local.scope = scope
        return scope

    def finish(self, error: BaseException | None) -> None:
        """Flush the task's scope if ``error`` is None, else discard it; flush errors are logged.

        The task has already finished, so a failing flush cannot fail it any more.
        """
        scope: Scope | None = getattr(self._local, "scope", None)
        if scope is None:
            return
        self._local.scope = None
        try:
            if error is None:
                scope.__exit__(None, None, None)
            else:
                scope.__exit__(type(error), error, error.__traceback__)
        except Exception:
            logger.exception("airlock: flushing the scope of a %s task failed", self.queue)

    @property
    def current(self) -> Scope | None:
        """The scope of the task running in this thread, if any."""
        return getattr(self._local, "scope", None)


class SignalScopes(TaskScopes):
    """``TaskScopes`` driven by a queue's Django signals: one sent as a task starts, one as it ends.

    ``failure(**signal_kwargs)`` returns None when the task succeeded, else a description.
    """

    def __init__(
        self, queue: str, started: Any, finished: Any, failure: Callable[..., str | None]
    ) -> None:
        super().__init__(queue)
        self._signals = (started, finished)
        self._failure = failure
        self._uid = f"airlock.scope_tasks.{queue}"

    def _on_started(self, sender: Any, **kwargs: Any) -> None:
        self.start()

    def _on_finished(self, sender: Any, **kwargs: Any) -> None:
        failure = self._failure(**kwargs)
        self.finish(None if failure is None else TaskFailed(failure))

    def connect(self) -> Callable[[], None]:
        """Connect both receivers (idempotent); returns a function that disconnects them."""
        started, finished = self._signals
        started.connect(self._on_started, weak=False, dispatch_uid=self._uid + ".start")
        finished.connect(self._on_finished, weak=False, dispatch_uid=self._uid + ".finish")

        def disconnect() -> None:
            started.disconnect(dispatch_uid=self._uid + ".start")
            finished.disconnect(dispatch_uid=self._uid + ".finish")

        return disconnect
