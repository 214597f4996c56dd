"""``django_q_executor``: send each intent with ``django_q.tasks.async_task``.

Dispatch options are django-q2's task options (``group``, ``hook``, ``timeout``, ``cluster``,
``broker``, ``save``, ``cached``, ``ack_failure``, ``chain``, ``task_name``, ...). They are passed
as ``q_options``, so they never collide with the task's own keyword arguments; a task whose
keyword arguments are named like a django-q2 option (which ``async_task`` would swallow even
then) is sent through ``call_with_kwargs``. The task name is ``task_name`` if given, else the
intent's ``key`` (else its ``id``). Every callable is sent: django-q2 runs plain functions.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("django-q", __name__):
    from django_q.tasks import async_task

from airlock._intent import Intent
from airlock._sending import sending
from airlock.executors._base import check_options
from airlock.integrations.executors._queues import check_arguments, refuse_coroutine
from airlock.typing import SupportsPrepare

__all__ = ["DJANGO_Q_OPTIONS", "DjangoQExecutor", "call_with_kwargs", "django_q_executor"]

# What async_task takes out of a task's keyword arguments, q_options or not (django-q2 1.11).
_RESERVED = frozenset(
    {
        "hook",
        "group",
        "save",
        "sync",
        "cached",
        "ack_failure",
        "iter_count",
        "iter_cached",
        "chain",
        "broker",
        "cluster",
        "timeout",
        "task_name",
        "q_options",
    }
)

#: The dispatch options ``django_q_executor`` takes: the task options ``async_task`` reads
#: (they are sent as its ``q_options``, so ``q_options`` itself is not one of them).
DJANGO_Q_OPTIONS = _RESERVED - {"q_options"}


def call_with_kwargs(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Run ``func(*args, **kwargs)`` on the worker (carries kwargs django-q2 would swallow)."""
    return func(*args, **kwargs)


class DjangoQExecutor(SupportsPrepare):
    """Sends intents with django-q2; ``prepare`` checks arguments at enqueue.

    ``prepare(intent)``: a task or argument that pickle (django-q2's serializer) rejects, such
    as a lambda or a lock, raises ``TypeError`` naming it; an option ``async_task`` does not
    take (``known_options``) raises ``UnknownOptionError``.
    """

    known_options = DJANGO_Q_OPTIONS

    def __call__(self, intent: Intent) -> Any:
        options = dict(intent.dispatch_options)
        options.setdefault("task_name", str(intent.key or intent.id))
        with sending():  # airlock's own publish: strict mode lets it through
            if _RESERVED.isdisjoint(intent.kwargs):
                return async_task(intent.task, *intent.args, q_options=options, **intent.kwargs)
            return async_task(
                call_with_kwargs, intent.task, intent.args, intent.kwargs, q_options=options
            )

    def prepare(self, intent: Intent) -> Intent:
        options = intent.dispatch_options
        check_options(str(intent), "django-q2 dispatch", options, DJANGO_Q_OPTIONS)
        refuse_coroutine(intent, intent.task, "django-q2")
        try:
            pickle.dumps(intent.task)
        except Exception as exc:
            raise TypeError(
                f"{intent}: the task {intent.task!r} cannot be pickled, so django-q2 cannot send "
                f"it ({exc}). Use a module-level function."
            ) from None
        check_arguments(intent, pickle.dumps, "django-q2's serializer (pickle)")
        return intent

    def __repr__(self) -> str:
        return "django_q_executor"


django_q_executor = DjangoQExecutor()
"""The django-q2 executor to configure: ``AIRLOCK = {"EXECUTOR": "...django_q_executor"}``."""
