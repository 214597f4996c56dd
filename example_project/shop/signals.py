"""Signal handlers: analytics is enqueued far from the view that caused it."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

import airlock
from shop.models import Order
from shop.tasks import track_event


@receiver(post_save, sender=Order, dispatch_uid="shop.order_placed")
def order_placed(sender: type[Order], instance: Order, created: bool, **kwargs: Any) -> None:
    if created and not kwargs.get("raw"):
        airlock.enqueue(track_event, "order_placed", order_id=instance.pk)
