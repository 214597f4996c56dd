"""The consumers' task body, shared by the Celery and dramatiq apps of this suite.

``deliver(order, message_id, queue, apply, stall)`` logs the delivery (autocommit, so the test
sees every one), then calls ``apply`` (the task's apply-once body). ``stall`` makes the first
delivery of an order hang so the test can SIGKILL the worker there: ``"in_transaction"`` with the
inbox row and the counter update uncommitted, ``"after_commit"`` after both committed but before
the task returns (the broker has no ack yet). Later deliveries never stall.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def hang() -> None:
    """Wait for the SIGKILL the test sends (bounded, so a lost test leaves no stuck worker)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
    raise RuntimeError("the test never killed this worker")


def deliver(order: int, message_id: str, queue: str, apply: Callable[..., Any], stall: str) -> None:
    from integrations.inbox.models import Delivery

    Delivery.objects.create(order=order, message_id=message_id, queue=queue)
    first = Delivery.objects.filter(order=order).count() == 1
    apply(order, stall if first else "")
    if first and stall == "after_commit":
        hang()


def increment(order: int, stall: str) -> None:
    """The effect: not idempotent by itself (``applied = applied + 1``)."""
    from django.db.models import F

    from integrations.inbox.models import Order

    Order.objects.filter(pk=order).update(applied=F("applied") + 1)
    if stall == "in_transaction":
        hang()
