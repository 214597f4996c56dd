"""Sample code that goes through airlock: nothing here may be reported."""

import airlock
from airlock import enqueue
from airlock import enqueue as later

from shop.signals import order_paid
from shop.tasks import send_receipt


def checkout(order):
    airlock.enqueue(send_receipt, order.id)
    enqueue(send_receipt, order.id, _dispatch_options={"countdown": 5})
    later(send_receipt, order.id)
    send_receipt(order.id)
    order.save()
    order_paid.send(sender=type(order), order=order)  # a Django signal, not a queue
