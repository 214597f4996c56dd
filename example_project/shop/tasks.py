"""The background tasks. Plain functions, registered with Celery or huey when one is chosen.

Each task records what it did as an ``Effect`` row, so the shop page (and the demo) can show
that it ran, whichever process ran it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

from shop import warehouse
from shop.models import Effect, Order


def queue_task(func: Callable[..., Any]) -> Any:
    """Register ``func`` with the queue that ``SHOP_EXECUTOR`` names (or leave it plain)."""
    if settings.SHOP_EXECUTOR == "celery":
        from shop_site.worker import app

        return app.task(func)  # named "shop.tasks.<function>", Celery's default
    if settings.SHOP_EXECUTOR == "huey":
        from huey.contrib.djhuey import db_task

        return db_task()(func)  # named "shop.tasks.<function>", huey's default
    return func


@queue_task
def send_receipt(order_id: int) -> None:
    order = Order.objects.get(pk=order_id)
    detail = f"receipt mailed to {order.customer}"
    Effect.objects.create(task="send_receipt", order=order, detail=detail)


@queue_task
def notify_warehouse(order_id: int) -> None:
    warehouse.request_pickup(order_id)
    Effect.objects.create(task="notify_warehouse", order_id=order_id, detail="pickup booked")


@queue_task
def track_event(name: str, order_id: int) -> None:
    Effect.objects.create(task="track_event", order_id=order_id, detail=f"analytics: {name}")
