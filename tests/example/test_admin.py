"""The admin is a request like any other: its "ship" action's receipts leave after the commit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.example.helpers import manage

SCRIPT = """
from django.contrib.auth.models import User
from django.test import Client
from shop import journal
from shop.models import Effect, Order, Product

teapot = Product.objects.get(name="Teapot")
order = Order.objects.bulk_create([Order(customer="bo@example.com", product=teapot)])[0]
User.objects.create_superuser("admin", "admin@example.com", "pw")
client = Client()
client.login(username="admin", password="pw")
response = client.post(
    "/admin/shop/order/",
    {"action": "ship_selected", "_selected_action": [order.pk]},
)
record = journal.recent()[0]
print(response.status_code, record.label)
for entry in record.entries.values():
    print(entry.call, entry.fate)
print(Order.objects.get(pk=order.pk).status, sorted(Effect.objects.values_list("task", flat=True)))
"""


def test_admin_action_ships_and_dispatches_after_commit(new_shop_db: Callable[[], Path]) -> None:
    output = manage(new_shop_db(), "shell", "-v0", "-c", SCRIPT).splitlines()
    assert output == [
        "302 POST /admin/shop/order/",
        "send_receipt(order_id=1) dispatched",
        "notify_warehouse(1) dispatched",
        "shipped ['notify_warehouse', 'send_receipt']",
    ]
