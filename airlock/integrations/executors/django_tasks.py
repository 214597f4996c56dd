"""``django_tasks_executor``: enqueue each intent with ``task.using(**options).enqueue(...)``.

For Django's tasks framework: ``django.tasks`` on Django 6+, the ``django-tasks`` backport on
Django 5.2 (a task of either works, the executor only calls its methods). Dispatch options:
``priority``, ``queue_name``, ``backend`` and ``run_after`` (a datetime, or a timedelta / number
of seconds from the moment of ``enqueue``). The backend assigns the result id itself, so ``key``
is not passed on, except to a task marked apply-once (``django_tasks_apply_once``): it gets the
intent's ``key`` (else its ``id``) as the keyword argument ``airlock_message_id``. A plain
function runs synchronously (documented fallback).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from airlock.integrations._extras import require

try:  # Django 6+: its own django.tasks, and the JSON normalization it applies to arguments
    import django.tasks  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    from django.utils.json import normalize_json  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    with require("django-tasks", __name__):  # Django 5.2: the same in the backport
        from django_tasks.utils import normalize_json  # type: ignore[no-redef,unused-ignore]

from airlock._intent import Intent
from airlock._sending import sending
from airlock.executors._base import check_options
from airlock.integrations.executors._queues import check_arguments, to_datetime, to_timedelta
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsPrepare

__all__ = ["DjangoTasksExecutor", "django_tasks_executor"]

_OPTIONS = frozenset({"priority", "queue_name", "backend", "run_after"})


def _is_task(task: Any) -> bool:
    return all(hasattr(task, a) for a in ("using", "enqueue", "func", "get_backend"))


def _encode(value: Any) -> str:
    return json.dumps(normalize_json(value))


class DjangoTasksExecutor(SupportsPrepare):
    """Enqueues intents for Django tasks; ``prepare`` validates and fixes times at enqueue.

    ``prepare(intent)``: arguments that are not JSON-serializable raise ``TypeError`` naming
    the argument; an unknown option or one the backend refuses (no ``run_after`` support, an
    unknown queue) raises at once; a relative ``run_after`` becomes an absolute datetime.
    """

    known_options = _OPTIONS

    def __call__(self, intent: Intent) -> Any:
        task = intent.task
        if not _is_task(task):
            sync_executor(intent)
            return None
        options = _absolute(intent.dispatch_options)
        kwargs = intent.kwargs
        inbox_kwarg = getattr(task.func, "airlock_inbox_kwarg", None)
        if inbox_kwarg:  # the inbox reads the message id from it (django_tasks_apply_once)
            kwargs = {**kwargs, inbox_kwarg: str(intent.key or intent.id)}
        with sending():  # airlock's own publish: strict mode lets it through
            return task.using(**options).enqueue(*intent.args, **kwargs)

    def prepare(self, intent: Intent) -> Intent:
        task = intent.task
        check_options(str(intent), "Django tasks dispatch", intent.dispatch_options, _OPTIONS)
        if not _is_task(task):  # runs inline
            return intent
        check_arguments(intent, _encode, "Django tasks' JSON encoding")
        options = _absolute(intent.dispatch_options)
        task.using(**options)  # the backend validates queue, priority and run_after support
        if options != dict(intent.dispatch_options):
            return intent.replace(dispatch_options=options)
        return intent

    def __repr__(self) -> str:
        return "django_tasks_executor"


def _absolute(source: Any) -> dict[str, Any]:
    options: dict[str, Any] = dict(source)
    run_after = options.get("run_after")
    if run_after is not None:
        if isinstance(run_after, datetime):
            options["run_after"] = to_datetime(run_after, "run_after")
        else:
            delta = to_timedelta(run_after, 1.0, "run_after")
            options["run_after"] = datetime.now(timezone.utc) + delta
    return options


django_tasks_executor = DjangoTasksExecutor()
"""The Django tasks executor: ``AIRLOCK = {"EXECUTOR": "...django_tasks_executor"}``."""
