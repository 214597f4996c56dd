"""Apply-once decorators, one per queue, over the one core (``core.run_once``).

Each reads the message id the queue carries, which airlock's executors and the outbox relay set
to the intent's ``key``, else its ``id`` (the same on every resend):

- Celery: the task id (``current_task.request.id``);
- dramatiq: the message id (needs the ``CurrentMessage`` middleware on the broker);
- huey: the task id (declare the task with ``context=True``);
- django-q2: the task name (``pre_execute`` hands it to the worker; airlock sends it as
  ``task_name``);
- Django tasks: the backend assigns its own result id, so ``django_tasks_executor`` passes ours
  as the keyword argument ``airlock_message_id`` to tasks marked apply-once, and the decorator
  takes it out again;
- anything else: ``apply_once(message_id=lambda *args, **kwargs: ...)``.

Each decorator goes directly over the function, under the queue's own decorator, and takes
``using=`` (see ``core.Using``). A duplicate returns None instead of the task's result.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from airlock.exceptions import UsageError
from airlock.integrations.django.inbox.core import Using, mark, refuse_async, run_once

__all__ = [
    "DJANGO_TASKS_KWARG",
    "apply_once",
    "celery_apply_once",
    "django_q_apply_once",
    "django_tasks_apply_once",
    "dramatiq_apply_once",
    "huey_apply_once",
]

F = TypeVar("F", bound=Callable[..., Any])
#: The keyword argument carrying the message id to a Django task marked apply-once.
DJANGO_TASKS_KWARG = "airlock_message_id"
#: The django-q2 task name of the task this worker runs (set by the ``pre_execute`` receiver).
django_q_task: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "airlock_inbox_django_q_task", default=None
)
# (args, kwargs) -> (message id, args, kwargs): how a queue's decorator finds the id.
Reader = Callable[
    [str, tuple[Any, ...], dict[str, Any]], tuple[Any, tuple[Any, ...], dict[str, Any]]
]


def _name(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _decorate(func: F, using: Using, read: Reader) -> F:
    name = _name(func)
    refuse_async(func, name)
    mark(name)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        message_id, args, kwargs = read(name, args, kwargs)
        return run_once(message_id, func, args, kwargs, task=name, using=using).result

    return wrapper  # type: ignore[return-value]


def _both(func: F | None, using: Using, read: Reader) -> F | Callable[[F], F]:
    """``@decorator`` and ``@decorator(using=...)`` alike."""
    if func is not None:
        return _decorate(func, using, read)
    return lambda f: _decorate(f, using, read)


def _missing(name: str, queue: str, fix: str) -> UsageError:
    return UsageError(f"{name} is marked apply-once but runs without a {queue} message id: {fix}")


# -- Celery ---------------------------------------------------------------------------------
def _celery_id(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from celery import current_task

    message_id = getattr(getattr(current_task, "request", None), "id", None)
    if not message_id:
        raise _missing(name, "Celery", "it runs in a worker (put the decorator under @app.task)")
    return message_id, args, kwargs


@overload
def celery_apply_once(func: F, *, using: Using = None) -> F: ...
@overload
def celery_apply_once(func: None = None, *, using: Using = None) -> Callable[[F], F]: ...
def celery_apply_once(func: F | None = None, *, using: Using = None) -> F | Callable[[F], F]:
    """Apply a Celery task once per task id: ``@app.task`` over ``@celery_apply_once``.

    The wrapper shows the function's own signature, so Celery still checks a call's arguments
    when it is sent.
    """

    def wrap(f: F) -> F:
        wrapper = _decorate(f, using, _celery_id)
        wrapper.__signature__ = inspect.signature(f)  # type: ignore[attr-defined]
        return wrapper

    return wrap(func) if func is not None else wrap


# -- dramatiq -------------------------------------------------------------------------------
def _dramatiq_id(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    from dramatiq.middleware import CurrentMessage

    message = CurrentMessage.get_current_message()
    if message is None:
        raise _missing(
            name, "dramatiq", "add dramatiq.middleware.CurrentMessage() to the broker's middleware"
        )
    return message.message_id, args, kwargs


@overload
def dramatiq_apply_once(func: F, *, using: Using = None) -> F: ...
@overload
def dramatiq_apply_once(func: None = None, *, using: Using = None) -> Callable[[F], F]: ...
def dramatiq_apply_once(func: F | None = None, *, using: Using = None) -> F | Callable[[F], F]:
    """Apply a dramatiq actor once per message id (needs the ``CurrentMessage`` middleware)."""
    return _both(func, using, _dramatiq_id)


# -- huey -----------------------------------------------------------------------------------
@overload
def huey_apply_once(func: F, *, using: Using = None) -> F: ...
@overload
def huey_apply_once(func: None = None, *, using: Using = None) -> Callable[[F], F]: ...
def huey_apply_once(func: F | None = None, *, using: Using = None) -> F | Callable[[F], F]:
    """Apply a huey task once per task id: ``@huey.task(context=True)`` over it.

    The ``task`` keyword huey passes goes on to the function only if it takes one.
    """

    def wrap(f: F) -> F:
        keeps = "task" in inspect.signature(f).parameters

        def read(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            task = kwargs.get("task") if keeps else kwargs.pop("task", None)
            message_id = getattr(task, "id", None)
            if not message_id:
                raise _missing(name, "huey", "declare the task with @huey.task(context=True)")
            return message_id, args, kwargs

        return _decorate(f, using, read)

    return wrap(func) if func is not None else wrap


# -- django-q2 ------------------------------------------------------------------------------
def _django_q_id(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    message_id = django_q_task.get()
    if not message_id:
        raise _missing(
            name,
            "django-q2",
            "it runs in a django-q2 cluster whose settings install the inbox app "
            "(its pre_execute receiver hands over the task name)",
        )
    return message_id, args, kwargs


def on_pre_execute(sender: Any = None, task: Any = None, **_: Any) -> None:
    """django-q2 ``pre_execute``: remember the task name for the function about to run."""
    django_q_task.set(str(task["name"]) if isinstance(task, dict) and task.get("name") else None)


def on_post_execute(sender: Any = None, **_: Any) -> None:
    django_q_task.set(None)


@overload
def django_q_apply_once(func: F, *, using: Using = None) -> F: ...
@overload
def django_q_apply_once(func: None = None, *, using: Using = None) -> Callable[[F], F]: ...
def django_q_apply_once(func: F | None = None, *, using: Using = None) -> F | Callable[[F], F]:
    """Apply a django-q2 task once per task name (airlock sends the intent's key or id)."""
    return _both(func, using, _django_q_id)


# -- Django tasks ---------------------------------------------------------------------------
def _django_tasks_id(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    message_id = kwargs.pop(DJANGO_TASKS_KWARG, None)
    if not message_id:
        raise _missing(
            name,
            "Django tasks",
            f"enqueue it through airlock (django_tasks_executor passes {DJANGO_TASKS_KWARG}=), "
            f"or pass {DJANGO_TASKS_KWARG}=<idempotency id> to enqueue() yourself",
        )
    return message_id, args, kwargs


@overload
def django_tasks_apply_once(func: F, *, using: Using = None) -> F: ...
@overload
def django_tasks_apply_once(func: None = None, *, using: Using = None) -> Callable[[F], F]: ...
def django_tasks_apply_once(func: F | None = None, *, using: Using = None) -> F | Callable[[F], F]:
    """Apply a Django task once per ``airlock_message_id``: ``@task()`` over it."""

    def wrap(f: F) -> F:
        wrapper = _decorate(f, using, _django_tasks_id)
        wrapper.airlock_inbox_kwarg = DJANGO_TASKS_KWARG  # type: ignore[attr-defined]
        return wrapper

    return wrap(func) if func is not None else wrap


# -- any queue ------------------------------------------------------------------------------
@overload
def apply_once(func: F, *, message_id: Callable[..., str], using: Using = None) -> F: ...
@overload
def apply_once(
    func: None = None, *, message_id: Callable[..., str], using: Using = None
) -> Callable[[F], F]: ...
def apply_once(
    func: F | None = None, *, message_id: Callable[..., str], using: Using = None
) -> F | Callable[[F], F]:
    """Apply ``func`` once per ``message_id(*args, **kwargs)`` (an idempotency id you derive)."""

    def read(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return message_id(*args, **kwargs), args, kwargs

    return _both(func, using, read)
