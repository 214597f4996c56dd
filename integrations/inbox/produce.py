"""Child process of the inbox suite: commit COUNT orders with a durable intent each, then die by
SIGKILL in the middle of the flush, after the batch executor published every message and the
outbox marked about KILL_AT of them sent: the relay resends the rest, which the consumers then
receive twice.

Usage: python -m integrations.inbox.produce QUEUE COUNT KILL_AT
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import django

django.setup()

from django.db import transaction  # noqa: E402

import airlock  # noqa: E402
from airlock import _events  # noqa: E402
from integrations.inbox.models import Order  # noqa: E402

DURABLE = {"durable": True}


def main(queue: str, count: int, kill_at: int) -> None:
    if queue == "celery":
        from integrations.inbox.celery_app import apply_order_task as task
    else:
        from integrations.inbox.dramatiq_app import apply_order_actor as task
    dispatched = 0

    def die_mid_flush(event: str, *_: Any) -> None:
        # The outbox's listener may run before or after this one: this event's row may or may
        # not be marked sent yet; the rows of earlier events are.
        nonlocal dispatched
        if event == _events.DISPATCHED:
            dispatched += 1
            if dispatched == kill_at:
                print(f"{dispatched} marked sent; dying mid-flush", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    _events.subscribe(die_mid_flush)
    with airlock.scope():
        with transaction.atomic():
            for _ in range(count):
                order = Order.objects.create(queue=queue)
                airlock.enqueue(task, order.pk, _dispatch_options=DURABLE)
    print("the flush ended without the kill", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
