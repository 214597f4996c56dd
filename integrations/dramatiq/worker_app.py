"""The dramatiq app of the end-to-end suite: the workers run it, the test process sends with it.

Env: ``AIRLOCK_DRAMATIQ_BROKER`` (``redis``: DB 3, ``rabbitmq``: queues ``airlock_dramatiq_*``),
``AIRLOCK_DRAMATIQ_WORKER=1`` in a worker (sets Django up, makes ``dramatiq_executor`` airlock's
executor there and ``dramatiq_batch_executor`` its named executor ``batched``, which follow-ups
take when ``spawn`` gets ``via="batched"``) and ``AIRLOCK_WORKER_NAME``. Actors record what they
ran into Redis DB 3; ``ScopeMiddleware`` runs every actor in a scope.
"""

from __future__ import annotations

import os
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

import airlock
from airlock.integrations.dramatiq import ScopeMiddleware
from integrations.common.recorder import Recorder
from tests.services import amqp_url, redis_url

DEFAULT_QUEUE = "airlock_dramatiq_default"
OTHER_QUEUE = "airlock_dramatiq_other"
RECORDER = Recorder(db=3, key="airlock:e2e:dramatiq:ran")
WORKER = os.environ.get("AIRLOCK_WORKER_NAME", "web")


def make_broker(kind: str) -> dramatiq.Broker:
    if kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=redis_url(3))
    elif kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=amqp_url())
    else:
        broker = StubBroker()
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(ScopeMiddleware())
    broker.declare_queue(OTHER_QUEUE)
    return broker


broker = make_broker(os.environ.get("AIRLOCK_DRAMATIQ_BROKER", "stub"))
dramatiq.set_broker(broker)

if os.environ.get("AIRLOCK_DRAMATIQ_WORKER") == "1":
    import django

    django.setup()
    from airlock.integrations.executors.dramatiq import dramatiq_batch_executor, dramatiq_executor

    airlock.configure(executor=dramatiq_executor, executors={"batched": dramatiq_batch_executor})


def _record(label: str, *args: Any, **fields: Any) -> None:
    message = CurrentMessage.get_current_message()
    RECORDER.record(
        label,
        args=list(args),
        worker=WORKER,
        message_id=message.message_id if message else None,
        **fields,
    )


@dramatiq.actor(broker=broker, queue_name=DEFAULT_QUEUE, max_retries=0)
def record(label: str, *args: Any, **kwargs: Any) -> None:
    """Record that it ran, with its arguments, message id and worker."""
    _record(label, *args, kwargs=kwargs)


@dramatiq.actor(broker=broker, queue_name=DEFAULT_QUEUE, max_retries=0)
def record_note(label: str, note_id: int) -> None:
    """Read the Note the web request wrote: a task sent before the commit would not find it."""
    from integrations.common.models import Note

    note = Note.objects.filter(pk=note_id).first()
    _record(label, note_id, kwargs={}, text=note.text if note else None)


@dramatiq.actor(broker=broker, queue_name=DEFAULT_QUEUE, max_retries=0)
def spawn(tag: str, fail: bool, via: str | None = None) -> None:
    """Enqueue a follow-up (through executor ``via``), then fail or succeed: the follow-up may
    leave only on success."""
    _record("spawn", tag, kwargs={})
    airlock.enqueue(record, "follow-up", tag, _dispatch_options={"executor": via} if via else None)
    if fail:
        raise RuntimeError(f"spawn {tag} fails after enqueueing its follow-up")


ACTORS = (record, record_note, spawn)


def use_broker(kind: str) -> dramatiq.Broker:
    """Point this process's actors at another broker (the test process switches per broker)."""
    global broker
    broker = make_broker(kind)
    dramatiq.set_broker(broker)
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    return broker
