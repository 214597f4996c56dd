"""The dramatiq consumer of the inbox suite, on Redis DB 10 (reserved for this suite), with the
``CurrentMessage`` middleware the apply-once decorator reads the message id from.
``AIRLOCK_INBOX_WORKER=1`` sets Django up in a worker."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

from airlock.integrations.django import outbox
from airlock.integrations.django.inbox import dramatiq_apply_once
from integrations.inbox import effects
from tests.services import redis_url

QUEUE = "airlock_inbox_dramatiq"

if os.environ.get("AIRLOCK_INBOX_WORKER") == "1":
    import django

    django.setup()

broker = RedisBroker(url=redis_url(10), namespace="airlock-inbox-e2e")
broker.add_middleware(CurrentMessage())
dramatiq.set_broker(broker)

apply_order = dramatiq_apply_once(effects.increment)


@outbox.register(name="inbox_e2e.apply_order_dramatiq")
@dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=3, min_backoff=100, max_backoff=500)
def apply_order_actor(order: int, stall: str = "") -> None:
    message = CurrentMessage.get_current_message()
    assert message is not None
    effects.deliver(order, message.message_id, "dramatiq", apply_order, stall)
