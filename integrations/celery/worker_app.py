"""The Celery app of the end-to-end suite: the worker runs it, the test process sends with it.

Env: ``AIRLOCK_CELERY_BROKER`` (broker URL), ``AIRLOCK_CELERY_WORKER=1`` in the worker (sets
Django up and makes ``celery_executor`` airlock's executor there, ``celery_batch_executor`` its
named executor ``batched``, which follow-ups take when a task gets ``via="batched"``). Every
task records what it ran into Redis DB 2 (``RECORDER``); the broker uses Redis DB 1 or RabbitMQ
queues ``airlock_celery_*``. Task bodies run in scopes (``task_cls=ScopedTask``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task

import airlock
from airlock.integrations.celery import AirlockTask
from integrations.common.recorder import Recorder
from tests.services import redis_url

DEFAULT_QUEUE = "airlock_celery_default"
SPECIAL_QUEUE = "airlock_celery_special"
RECORDER = Recorder(db=2)

app = Celery(
    "airlock_e2e",
    broker=os.environ.get("AIRLOCK_CELERY_BROKER", redis_url(1)),
    task_cls="airlock.integrations.celery:ScopedTask",
)
app.conf.update(
    task_default_queue=DEFAULT_QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)

if os.environ.get("AIRLOCK_CELERY_WORKER") == "1":
    import django

    django.setup()
    from airlock.integrations.executors.celery import celery_batch_executor, celery_executor

    airlock.configure(executor=celery_executor, executors={"batched": celery_batch_executor})
    if os.environ.get("AIRLOCK_STRICT"):  # the strict-mode suite's worker
        airlock.configure(strict=os.environ["AIRLOCK_STRICT"])


def use_broker(url: str) -> None:
    """Point this process's app at another broker (the test process switches per broker)."""
    from kombu import pools

    app.conf.broker_url = url
    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu keeps one producer pool per broker URL, process-wide, bound to the connection pool
    # it was made with: coming back to a URL would find the pool closed above.
    pools.reset()


def _record(task: Any, label: str, *args: Any, **kwargs: Any) -> None:
    RECORDER.record(
        label,
        args=list(args),
        kwargs=kwargs,
        task_id=task.request.id,
        queue=(task.request.delivery_info or {}).get("routing_key"),
        worker=task.request.hostname,
    )


def _through(via: str | None) -> dict[str, str] | None:
    return {"executor": via} if via else None


@app.task(name="e2e.record", bind=True)
def record(self: Any, label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with its arguments, task id, queue and worker."""
    _record(self, label, *args, **kwargs)


@app.task(name="e2e.record_note", bind=True)
def record_note(self: Any, label: str, note_id: int) -> None:
    """Read the Note the web request wrote: a task sent before the commit would not find it."""
    from integrations.common.models import Note

    note = Note.objects.filter(pk=note_id).first()
    _record(self, label, note_id, text=note.text if note else None)


@app.task(name="e2e.spawn", bind=True)
def spawn(self: Any, tag: str, fail: bool, via: str | None = None) -> None:
    """Enqueue a follow-up (through executor ``via``), then fail or succeed: the follow-up may
    leave only on success."""
    _record(self, "spawn", tag)
    airlock.enqueue(record, "follow-up", tag, _dispatch_options=_through(via))
    if fail:
        raise RuntimeError(f"spawn {tag} fails after enqueueing its follow-up")


@app.task(name="e2e.flaky", bind=True, base=AirlockTask, max_retries=1)
def flaky(self: Any, tag: str, via: str | None = None) -> None:
    """Retries once: the first attempt's follow-up is discarded, the retry itself must leave."""
    airlock.enqueue(
        record, "attempt-follow-up", tag, self.request.retries, _dispatch_options=_through(via)
    )
    if self.request.retries == 0:
        raise self.retry(countdown=0)


@app.task(name="e2e.bypass_in_body", bind=True)
def bypass_in_body(self: Any, tag: str) -> None:
    """Strict mode in the worker: a direct ``.delay()`` in the body's scope is reported (the
    error's call site is recorded), nothing leaves."""
    from airlock.exceptions import StrictModeError

    try:
        record.delay("body-bypass", tag)  # STRICT BODY BYPASS
    except StrictModeError as error:
        _record(self, "body-bypass-reported", tag, file=error.filename, line=error.lineno)


@app.task(name="e2e.bypass_unscoped", bind=True, base=Task)
def bypass_unscoped(self: Any, tag: str) -> None:
    """A task body with no scope and no transaction: its direct ``.delay()`` is not reported."""
    record.delay("unscoped-child", tag)
