"""``ray_executor``: submit each intent as a Ray remote function.

Needs Ray: ``pip install "django-airlock[ray]"``.

The task runs on a Ray worker inside a fresh airlock scope, as ``sync_executor`` would run it,
so a task that enqueues follow-ups works there too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from airlock._intent import Intent
from airlock.executors._base import check_options
from airlock.executors._pools import PoolStatistics
from airlock.integrations._extras import require
from airlock.integrations.executors._queues import check_arguments
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsPrepare

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


class _Ray(SupportsPrepare):
    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = dict(options)
        self._remote: Any = None
        self.statistics = PoolStatistics()
        self._lock = threading.Lock()

    def prepare(self, intent: Intent) -> Intent:
        """At enqueue: unknown Ray options and arguments Ray cannot serialize are errors."""
        check_options(str(intent), "Ray task", intent.dispatch_options, RAY_OPTIONS)
        check_arguments(intent, ray.cloudpickle.dumps, "Ray's serializer (cloudpickle)")
        return intent

    def __call__(self, intent: Intent) -> Any:
        """Submit; returns the ``ObjectRef``. Failures are logged and counted when they happen."""
        if self._remote is None:
            self._remote = ray.remote(_run_task)
        options = {**self.options, **intent.dispatch_options}
        ref = self._remote.options(**options).remote(intent.task, intent.args, intent.kwargs)
        with self._lock:
            self.statistics.submitted += 1
        ref.future().add_done_callback(lambda future: self._done(intent, future))
        return ref

    def _done(self, intent: Intent, future: Any) -> None:
        error = future.exception()
        with self._lock:
            if error is None:
                self.statistics.completed += 1
            else:
                self.statistics.failed += 1
        if error is not None:
            logger.error("airlock: %s failed on Ray: %s", intent, error)

    def __repr__(self) -> str:
        return f"<ray_executor options={self.options!r}>"


def ray_executor(**options: Any) -> _Ray:
    """Submit each intent as a Ray task; ``options`` and dispatch options go to ``.options()``.

    Dispatch options win over ``options``; names outside ``RAY_OPTIONS`` raise
    ``UnknownOptionError`` (here, or at enqueue for dispatch options).
    Call ``ray.init(...)`` (or connect to a cluster) first; otherwise Ray starts a local one
    on first use. The flush does not wait: ``.statistics`` counts submitted, completed and
    failed tasks, and failures are logged (logger ``airlock.executors``).
    """
    check_options("ray_executor()", "Ray task", options, RAY_OPTIONS)
    return _Ray(options)
