"""Tasks of the django-q2 end-to-end suite; clusters run them with ``integrations.settings``.

Env: ``AIRLOCK_DJANGO_Q_BROKER`` (``orm``, the default, or ``redis``: DB 5, read by the settings),
``AIRLOCK_DJANGO_Q_WORKER=1`` in a cluster (makes ``django_q_executor`` airlock's executor
there; a worker imports this module when it unpickles its first task, before it runs it),
``Q_CLUSTER_NAME`` and ``AIRLOCK_WORKER_NAME``. Tasks record what they ran into Redis DB 5
(key ``airlock:e2e:django_q:ran``); ``scope_tasks()`` runs every task in a scope.
"""

from __future__ import annotations

import os
from typing import Any

from django_q.conf import Conf

import airlock
from airlock.integrations.django_q import scope_tasks
from integrations.common.recorder import Recorder
from tests.services import redis_url

OTHER_CLUSTER = "airlock_q_other"
RECORDER = Recorder(db=5, key="airlock:e2e:django_q:ran")
WORKER = os.environ.get("AIRLOCK_WORKER_NAME", "web")

scope_tasks()

if os.environ.get("AIRLOCK_DJANGO_Q_WORKER") == "1":
    from airlock.integrations.executors.django_q import django_q_executor

    airlock.configure(executor=django_q_executor)


def use_broker(kind: str) -> None:
    """Point this process's django-q2 at the ORM or the Redis broker (the test process switches)."""
    Conf.ORM = "default" if kind == "orm" else None
    Conf.REDIS = redis_url(5)


def record(label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with its arguments and worker."""
    RECORDER.record(label, args=list(args), kwargs=kwargs, worker=WORKER)


def record_note(label: str, note_id: int) -> None:
    """Read the Note the web request wrote: a task sent before the commit would not find it."""
    from integrations.common.models import Note

    note = Note.objects.filter(pk=note_id).first()
    RECORDER.record(label, args=[note_id], worker=WORKER, text=note.text if note else None)


def spawn(tag: str, fail: bool) -> None:
    """Enqueue a follow-up, then fail or succeed: the follow-up may leave only on success."""
    RECORDER.record("spawn", args=[tag], worker=WORKER)
    airlock.enqueue(record, "follow-up", tag)
    if fail:
        raise RuntimeError(f"spawn {tag} fails after enqueueing its follow-up")
