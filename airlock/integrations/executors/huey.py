"""``huey_executor``: enqueue each intent on its task's huey instance, like ``schedule()``.

Dispatch options: ``delay`` (seconds or a timedelta), ``eta`` (a datetime; naive means UTC),
``priority``, ``retries``, ``retry_delay``, ``expires`` (seconds, timedelta or datetime),
``timeout``. The intent's ``key`` (else its ``id``) becomes the huey task id. Task keyword
arguments named like these options are never mistaken for them. A plain function runs
synchronously (documented fallback).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from airlock.integrations._extras import require

with require("huey", __name__):
    from huey.api import TaskWrapper

from airlock._intent import Intent
from airlock.executors._base import check_options
from airlock.integrations.executors._queues import (
    check_arguments,
    to_datetime,
    to_timedelta,
)
from airlock.integrations.executors.sync import sync_executor

__all__ = ["HueyExecutor", "huey_executor"]

_TASK_OPTIONS = ("priority", "retries", "retry_delay", "retry_backoff", "expires", "timeout")
_OPTIONS = frozenset({"delay", "eta", "id", *_TASK_OPTIONS})


class HueyExecutor:
    """Sends intents for huey tasks; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: arguments the huey instance's serializer (pickle) rejects raise
    ``TypeError`` naming the argument; ``delay`` and a relative ``expires`` become absolute
    datetimes, so a late flush does not push the schedule back.
    """

    def __call__(self, intent: Intent) -> None:
        task = intent.task
        if not isinstance(task, TaskWrapper):
            sync_executor(intent)
            return
        task.huey.enqueue(self.message(intent))

    def message(self, intent: Intent) -> Any:
        """The huey ``Task`` message for an intent of a huey task (what ``__call__`` enqueues)."""
        task = intent.task
        options = self._absolute(intent.dispatch_options)
        _check_options(intent)
        huey = task.huey
        eta = options.get("eta")
        if eta is not None:
            eta = _for_huey(to_datetime(eta, "eta"), huey.utc)
        expires = options.get("expires")
        if isinstance(expires, datetime):  # huey itself converts an aware one for its clock
            expires = to_datetime(expires, "expires")
        return task.task_class(
            intent.args,
            intent.kwargs,
            id=str(options.get("id") or intent.key or intent.id),
            eta=eta,
            **{k: options[k] for k in _TASK_OPTIONS if k != "expires" and k in options},
            expires=expires,
        )

    def prepare(self, intent: Intent) -> Intent:
        task = intent.task
        if not isinstance(task, TaskWrapper):
            return intent
        _check_options(intent)
        check_arguments(intent, task.huey.serializer.serialize, "huey's serializer (pickle)")
        options = intent.dispatch_options
        if "delay" in options or _relative(options.get("expires")):
            return intent.replace(dispatch_options=self._absolute(options))
        return intent

    @staticmethod
    def _absolute(source: Any) -> dict[str, Any]:
        options: dict[str, Any] = dict(source)
        now = datetime.now(timezone.utc)
        delay = options.pop("delay", None)
        if delay is not None:
            if options.get("eta") is not None:
                raise ValueError("huey dispatch options have both 'delay' and 'eta'; give one")
            options["eta"] = now + to_timedelta(delay, 1.0, "delay")
        if _relative(options.get("expires")):
            options["expires"] = now + to_timedelta(options["expires"], 1.0, "expires")
        return options

    def __repr__(self) -> str:
        return "huey_executor"


def _check_options(intent: Intent) -> None:
    check_options(str(intent), "huey dispatch", intent.dispatch_options, _OPTIONS)


def _relative(value: Any) -> bool:
    return value is not None and not isinstance(value, datetime)


def _for_huey(moment: datetime, utc: bool) -> datetime:
    # huey compares naive datetimes: UTC ones when huey.utc (the default), else local time.
    if utc:
        return moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.astimezone().replace(tzinfo=None)


huey_executor = HueyExecutor()
"""The huey executor to configure: ``AIRLOCK = {"EXECUTOR": "...huey_executor"}``."""


def __getattr__(name: str) -> Any:
    # Opt-in batched variant (one Redis transaction per flush): ``huey_batch_executor`` and
    # ``HueyBatchExecutor`` live in _batch_huey, imported on first use (it imports us).
    if name in ("huey_batch_executor", "HueyBatchExecutor"):
        from airlock.integrations.executors import _batch_huey

        return getattr(_batch_huey, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
