"""Checkout steps the views call: payment, loyalty points, shipping labels (all simulated)."""

from __future__ import annotations

import airlock
from shop.models import Order
from shop.tasks import track_event

DECLINED_CARD = "4000 0000 0000 0002"
"""The card number that is always declined (as on most payment providers' test setups)."""

POINTS_BALANCE = 100
"""Every customer of this toy shop has 100 loyalty points."""


class PaymentDeclined(Exception):
    pass


class NotEnoughPoints(Exception):
    pass


class LabelPrinterError(Exception):
    pass


def charge(order: Order, card: str) -> None:
    """Charge the card; raises ``PaymentDeclined`` for the declined test card."""
    if card.strip() == DECLINED_CARD:
        raise PaymentDeclined(f"card ending {card.strip()[-4:]} was declined")


def redeem_points(order: Order, points: int) -> None:
    """Take points off the customer's balance; raises ``NotEnoughPoints`` past the balance.

    It writes and enqueues before it knows the balance suffices: run it inside its own
    savepoint so a refusal undoes both.
    """
    order.points_used = points
    order.save(update_fields=["points_used"])
    airlock.enqueue(track_event, "points_redeemed", order_id=order.pk)
    if points > POINTS_BALANCE:
        raise NotEnoughPoints(f"{points} points asked, {POINTS_BALANCE} available")


def print_label(order: Order) -> None:
    """Print the parcel label; the printer refuses anvils (too heavy for a parcel)."""
    if order.product.name == "Anvil":
        raise LabelPrinterError(f"cannot print a parcel label for {order}: anvils go by freight")
