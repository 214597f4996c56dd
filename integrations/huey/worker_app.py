"""The huey app of the end-to-end suite: the consumer runs it, the test process enqueues with it.

Env: ``AIRLOCK_HUEY_STORAGE`` (``redis``: DB 4, or ``sqlite`` with ``AIRLOCK_HUEY_SQLITE``, a
file path), ``AIRLOCK_HUEY_WORKER=1`` in the consumer (sets Django up, makes ``huey_executor``
airlock's executor there and ``huey_batch_executor`` its named executor ``batched``, which
follow-ups take when ``spawn`` gets ``via="batched"``) and ``AIRLOCK_WORKER_NAME``. Tasks record
what they ran into Redis DB 4; ``scope_tasks(huey)`` runs every task in a scope.
"""

from __future__ import annotations

import os
from typing import Any

from huey import Huey
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

import airlock
from airlock.integrations.huey import scope_tasks
from integrations.common.recorder import Recorder
from tests.services import redis_url

NAME = "airlock_huey_e2e"
RECORDER = Recorder(db=4, key="airlock:e2e:huey:ran")
WORKER = os.environ.get("AIRLOCK_WORKER_NAME", "web")


def make_storage(kind: str, sqlite_path: str = "") -> Any:
    if kind == "redis":
        return RedisStorage(NAME, url=redis_url(4))
    if kind == "sqlite":
        return SqliteStorage(NAME, filename=sqlite_path)
    return MemoryStorage(NAME)


huey = Huey(NAME, results=False, utc=True, storage_class=MemoryStorage)
huey.storage = make_storage(
    os.environ.get("AIRLOCK_HUEY_STORAGE", "memory"), os.environ.get("AIRLOCK_HUEY_SQLITE", "")
)
scope_tasks(huey)

if os.environ.get("AIRLOCK_HUEY_WORKER") == "1":
    import django

    django.setup()
    from airlock.integrations.executors.huey import huey_batch_executor, huey_executor

    airlock.configure(executor=huey_executor, executors={"batched": huey_batch_executor})


def use_storage(kind: str, sqlite_path: str = "") -> Any:
    """Point this process's huey at another storage (the test process switches per storage)."""
    huey.storage = make_storage(kind, sqlite_path)
    return huey.storage


def _record(task: Any, label: str, *args: Any, **fields: Any) -> None:
    RECORDER.record(label, args=list(args), worker=WORKER, task_id=task.id, **fields)


@huey.task(context=True)
def record(label: str, *args: Any, task: Any = None, **kwargs: Any) -> None:
    """Record that it ran, with its arguments, huey task id and worker."""
    _record(task, label, *args, kwargs=kwargs)


@huey.task(context=True)
def record_note(label: str, note_id: int, task: Any = None) -> None:
    """Read the Note the web request wrote: a task sent before the commit would not find it."""
    from integrations.common.models import Note

    note = Note.objects.filter(pk=note_id).first()
    _record(task, label, note_id, kwargs={}, text=note.text if note else None)


@huey.task(context=True)
def spawn(tag: str, fail: bool, via: str | None = None, task: Any = None) -> None:
    """Enqueue a follow-up (through executor ``via``), then fail or succeed: the follow-up may
    leave only on success."""
    _record(task, "spawn", tag, kwargs={})
    airlock.enqueue(record, "follow-up", tag, _dispatch_options={"executor": via} if via else None)
    if fail:
        raise RuntimeError(f"spawn {tag} fails after enqueueing its follow-up")
