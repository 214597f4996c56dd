"""What strict mode patches in each queue library (``airlock._strict`` decides what to report).

``PATCHES`` maps a library to a function that patches it and returns what undoes the patch,
or None when the library is not installed or cannot be imported yet (django-q2 needs Django's
apps; ``airlock._strict.refresh`` tries again). Each patch calls ``airlock._strict.check``
before the library publishes, naming the library's files (walked past to find the
application's call site) and the frames that mark the library's own publishes:

- Celery: ``Celery.send_task``, through which ``delay``, ``apply_async``, ``send_task`` and
  every canvas ``apply_async`` publish; and ``Task.apply`` when Celery calls it in place of a
  publish (``task_always_eager``). Celery's own: the worker's tracer and result backends (chord
  callbacks, links), ``retry``, ``replace``, ``add_to_chord``, the worker and beat.
- dramatiq: ``Actor.send_with_options`` (``send`` goes through it). Its own: middleware
  (retries, callbacks) and the worker. ``pipeline``/``group`` publish through the broker and
  are not watched.
- huey: ``TaskWrapper.__call__``, ``schedule`` and ``map``. Its own: the consumer.
- django-q2: ``async_task`` (and what calls it: ``AsyncTask.run``, ``async_chain``...),
  through its ``pre_enqueue`` signal. Its own: any django-q2 module other than ``tasks``
  (the scheduler, the cluster).
- Django tasks: ``Task.enqueue`` and ``Task.aenqueue`` of ``django.tasks`` (Django 6+) and of
  the ``django-tasks`` backport.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from types import FrameType, ModuleType
from typing import Any

from airlock._strict import Own, check

__all__ = ["PATCHES"]

logger = logging.getLogger("airlock")

Undo = Callable[[], None]


def _dir(module: ModuleType) -> str:
    return os.path.dirname(os.path.abspath(str(module.__file__))) + os.sep


def _import(name: str) -> ModuleType | None:
    """The module, or None when its package is not installed or cannot be imported now."""
    try:
        if importlib.util.find_spec(name.split(".")[0]) is None:
            return None
        return importlib.import_module(name)
    except Exception as exc:  # e.g. Django not set up yet, or the app not installed
        logger.debug("airlock strict mode does not watch %s: %s", name, exc)
        return None


def _wrap(
    owner: type, name: str, library: str, skip: tuple[str, ...], own: Own | None = None
) -> Undo:
    """Replace ``owner.name`` by a function that checks, then calls the original."""
    original = owner.__dict__[name]

    def strict_checked(*args: Any, **kwargs: Any) -> Any:
        check(library, name, skip, own)
        return original(*args, **kwargs)

    _install(owner, name, original, strict_checked)
    return lambda: _restore(owner, name, original, strict_checked)


def _install(owner: type, name: str, original: Any, wrapper: Any) -> None:
    wrapper.__name__ = original.__name__
    wrapper.__qualname__ = original.__qualname__
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original
    setattr(owner, name, wrapper)


def _restore(owner: type, name: str, original: Any, wrapper: Any) -> None:
    if owner.__dict__.get(name) is wrapper:  # someone patched over us: leave theirs in place
        setattr(owner, name, original)


def patch_celery() -> Undo | None:
    base = _import("celery.app.base")
    if base is None:
        return None
    import celery
    from celery.app.task import Task

    root = _dir(celery)
    tracer = os.path.join(root, "app", "trace.py")
    task_file = os.path.join(root, "app", "task.py")
    beat = os.path.join(root, "beat.py")
    prefixes = tuple(os.path.join(root, d) + os.sep for d in ("backends", "worker"))
    sends_now = frozenset({"retry", "on_replace", "add_to_chord", "apply"})

    def own(path: str, frame: FrameType) -> bool:
        if path == task_file:
            return frame.f_code.co_name in sends_now
        return path in (tracer, beat) or path.startswith(prefixes)

    skip = (root,)
    undo_send = _wrap(base.Celery, "send_task", "celery", skip, own)
    original_apply = Task.__dict__["apply"]

    def apply(self: Any, *args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_code.co_filename.startswith(root):  # eager: in place of a publish
            check("celery", "apply_async", skip, own)
        return original_apply(self, *args, **kwargs)

    _install(Task, "apply", original_apply, apply)

    def undo() -> None:
        undo_send()
        _restore(Task, "apply", original_apply, apply)

    return undo


def patch_dramatiq() -> Undo | None:
    actor = _import("dramatiq.actor")
    if actor is None:
        return None
    root = _dir(actor)
    middleware = os.path.join(root, "middleware") + os.sep
    worker = os.path.join(root, "worker.py")

    def own(path: str, frame: FrameType) -> bool:
        return path.startswith(middleware) or path == worker

    return _wrap(actor.Actor, "send_with_options", "dramatiq", (root,), own)


def patch_huey() -> Undo | None:
    api = _import("huey.api")
    if api is None:
        return None
    root = _dir(api)
    consumer = os.path.join(root, "consumer.py")

    def own(path: str, frame: FrameType) -> bool:
        return path == consumer

    undos = [
        _wrap(api.TaskWrapper, name, "huey", (root,), own)
        for name in ("__call__", "schedule", "map")
    ]

    def undo() -> None:
        for one in undos:
            one()

    return undo


def patch_django_q() -> Undo | None:
    signals = _import("django_q.signals")
    if signals is None:
        return None
    import django.dispatch

    root = _dir(signals)
    tasks = os.path.join(root, "tasks.py")
    skip = (root, _dir(django.dispatch))

    def own(path: str, frame: FrameType) -> bool:
        return path.startswith(root) and path != tasks

    def receiver(**_: Any) -> None:
        check("django-q2", "async_task", skip, own)

    uid = "airlock.strict"
    signals.pre_enqueue.connect(receiver, weak=False, dispatch_uid=uid)
    return lambda: signals.pre_enqueue.disconnect(dispatch_uid=uid)


def patch_django_tasks() -> Undo | None:
    undos: list[Undo] = []
    for name in ("django.tasks.base", "django_tasks.base"):
        base = _import(name)
        if base is None:
            continue
        skip = (_dir(base),)
        undos += [_wrap(base.Task, m, "Django tasks", skip) for m in ("enqueue", "aenqueue")]
    if not undos:
        return None

    def undo() -> None:
        for one in undos:
            one()

    return undo


PATCHES: dict[str, Callable[[], Undo | None]] = {
    "celery": patch_celery,
    "dramatiq": patch_dramatiq,
    "huey": patch_huey,
    "django_q": patch_django_q,
    "django_tasks": patch_django_tasks,
}
