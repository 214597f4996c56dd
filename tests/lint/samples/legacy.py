"""Sample code for the lint tests: each line marked `# flagged` must be reported."""

from django_q.tasks import async_task

from shop.celery_tasks import charge as send_receipt
from shop.dramatiq_tasks import notify as actor
from shop.huey_tasks import ping as huey_task
from shop.other import signal, task


def checkout(order):
    send_receipt.delay(order.id)  # flagged
    send_receipt.apply_async((order.id,), countdown=5)  # flagged
    send_receipt.s(order.id).delay()  # flagged
    send_receipt.delay_on_commit(order.id)  # flagged
    actor.send(order.id)  # flagged
    actor.send_with_options(args=(order.id,), delay=1000)  # flagged
    task.enqueue(order.id)  # flagged
    huey_task.schedule((order.id,), delay=10)  # flagged
    async_task("shop.tasks.mail", order.id)  # flagged
    send_receipt.delay(  # flagged
        order.id,
    )
    send_receipt.delay(order.id)  # noqa: AIR001 - deliberate: runs before commit on purpose
    signal.send(sender=None)  # a Django signal: never flagged
    send_receipt.delay(order.id)  # noqa
    send_receipt.delay(order.id)  # noqa: E501
