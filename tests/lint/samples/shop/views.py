"""Views that call queues directly: each line marked `# flagged` must be reported."""

import shop.dramatiq_tasks
import shop.dramatiq_tasks as dt
from shop import dramatiq_tasks, huey_tasks

from . import djhuey_tasks
from .actors import notify_actor, send_receipt
from .celery_tasks import audit, charge, refund
from .dramatiq_tasks import Reconcile, archive, mailer, not_an_actor, refresh, reindex
from .huey_tasks import ping, send_invoice


def checkout(request, order):
    send_receipt.send(order.id)  # flagged
    notify_actor.send(order.id)  # flagged
    notify_actor.send_with_options(args=(order.id,), delay=1000)  # flagged
    reindex.send(order.id)  # flagged
    refresh.send(order.id)  # flagged
    archive.send(order.id)  # flagged
    Reconcile.send(order.id)  # flagged
    dramatiq_tasks.notify.send(order.id)  # flagged
    shop.dramatiq_tasks.reindex.send(order.id)  # flagged
    dt.send_receipt.send(order.id)  # flagged
    send_invoice(order.id)  # flagged
    huey_tasks.ping(order.id)  # flagged
    huey_tasks.build_report(order.created)  # flagged
    ping.schedule((order.id,), delay=10)  # flagged
    djhuey_tasks.send_coupon(order.id)  # flagged
    djhuey_tasks.tally(order.id)  # flagged
    charge.delay(order.id)  # flagged
    refund.apply_async((order.id,), countdown=5)  # flagged
    audit.s(order.id).delay()  # flagged
    # Not queue calls: a plain function, an object with a send() of its own, huey helpers.
    not_an_actor(order.id)
    mailer.send("hello")
    dramatiq_tasks.mailer.send("hello")
    send_invoice.call_local(order.id)
    send_receipt.fn(order.id)
