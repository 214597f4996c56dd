"""``manage.py ship_orders [--silent]``: ship every placed order in one transaction.

With ``--silent`` the command runs under ``DropAll``: the orders are marked shipped, and the
receipts and warehouse calls that ``Order.ship()`` enqueues are dropped (a data fix, not a
business event). The domain code is the same either way: the caller chooses the policy.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

import airlock
from shop.models import Order


class Command(BaseCommand):
    help = "Ship every placed order; --silent sends no receipt and calls no warehouse."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--silent", action="store_true", help="mark orders shipped without side effects"
        )

    def handle(self, *args: Any, silent: bool = False, **options: Any) -> None:
        policy = airlock.DropAll() if silent else None
        with airlock.scope(policy=policy) as scope, transaction.atomic():
            placed = Order.objects.select_for_update().filter(status=Order.PLACED)
            orders = list(placed.order_by("id"))
            for order in orders:
                order.ship()
        what = "dropped" if silent else "dispatched"
        count = len(scope.dropped) if silent else len(scope.dispatched)
        self.stdout.write(f"shipped {len(orders)} orders; {count} intents {what}")
