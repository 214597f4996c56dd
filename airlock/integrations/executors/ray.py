"""``ray_executor``: submit each intent as a Ray remote function.

Needs Ray: ``pip install "django-airlock[ray]"``.

The task runs on a Ray worker inside a fresh airlock scope, as ``sync_executor`` would run it,
so a task that enqueues follow-ups works there too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from airlock._intent import Intent
from airlock.executors._base import check_options
from airlock.executors._tracking import Tracked
from airlock.integrations._extras import require
from airlock.integrations.executors._queues import check_arguments
from airlock.integrations.executors.sync import sync_executor

with require("ray", __name__):
    import ray

__all__ = ["RAY_OPTIONS", "ray_executor"]

logger = logging.getLogger("airlock.executors")

#: Dispatch options passed to ``remote_function.options(...)``; anything else is an error at
#: enqueue time (a typo would otherwise only surface at flush).
RAY_OPTIONS = frozenset(
    {
        "accelerator_type",
        "label_selector",
        "max_calls",
        "max_retries",
        "memory",
        "name",
        "num_cpus",
        "num_gpus",
        "num_returns",
        "placement_group",
        "placement_group_bundle_index",
        "placement_group_capture_child_tasks",
        "resources",
        "retry_exceptions",
        "runtime_env",
        "scheduling_strategy",
    }
)


def _run_task(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return sync_executor(Intent(task, args, kwargs))  # a task scope, async def tasks too


class _Ray(Tracked):
    kind = "ray_executor"
    what = "Ray task"
    known_options = RAY_OPTIONS

    def __init__(
        self,
        options: Mapping[str, Any],
        on_error: Callable[[Intent, BaseException], object] | None,
    ) -> None:
        super().__init__(on_error)
        self.options = dict(options)
        self._remote: Any = None

    def prepare(self, intent: Intent) -> Intent:
        """At enqueue: closed, unknown Ray options and arguments Ray cannot serialize are
        errors."""
        self.check(intent)
        check_arguments(intent, ray.cloudpickle.dumps, "Ray's serializer (cloudpickle)")
        return intent

    def __call__(self, intent: Intent) -> Any:
        """Submit; returns the ``ObjectRef``. The task's outcome is reported when it arrives."""
        self.check(intent)
        if self._remote is None:
            self._remote = ray.remote(_run_task)
        options = {**self.options, **intent.dispatch_options}
        self._started()
        try:
            ref = self._remote.options(**options).remote(intent.task, intent.args, intent.kwargs)
        except BaseException:
            self._not_started()
            raise
        ref.future().add_done_callback(lambda future: self._done(intent, future))
        return ref

    def _done(self, intent: Intent, future: Any) -> None:
        error = future.exception()
        self._finished(intent, None if error is not None else future.result(), error)

    def close(self, timeout: float | None = None) -> None:
        """Refuse more intents and wait (up to ``timeout``) for the submitted tasks to finish."""
        self._closed = True
        if not self.wait_idle(timeout):
            logger.warning("airlock: %r closed with tasks still running", self)

    def __repr__(self) -> str:
        s = self.statistics
        return (
            f"<ray_executor {'closed' if self._closed else 'open'} options={self.options!r} "
            f"submitted={s.submitted} completed={s.completed} failed={s.failed}>"
        )


def ray_executor(
    *, on_error: Callable[[Intent, BaseException], object] | None = None, **options: Any
) -> _Ray:
    """Submit each intent as a Ray task; ``options`` and dispatch options go to ``.options()``.

    Dispatch options win over ``options``; names outside ``RAY_OPTIONS`` raise
    ``UnknownOptionError`` (here, or at enqueue for dispatch options).
    Call ``ray.init(...)`` (or connect to a cluster) first; otherwise Ray starts a local one
    on first use. The flush does not wait; the pools' lifecycle applies: ``.statistics``
    (submitted, completed, failed, in_flight), ``wait_idle()``, ``.errors``, ``on_error``,
    ``close()`` (or a ``with`` block) and the completion events ``completed`` (with the
    task's result) and ``task_failed`` (with its exception). Failures are logged (logger
    ``airlock.executors``).
    """
    check_options("ray_executor()", "Ray task", options, RAY_OPTIONS)
    return _Ray(options, on_error)
