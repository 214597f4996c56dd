"""Celery tasks (importable: an in-memory broker)."""

from celery import Celery, shared_task

app = Celery("shop", broker="memory://", set_as_current=False)


@app.task
def charge(order_id):
    return order_id


@app.task(bind=True, max_retries=3)
def refund(self, order_id):
    return order_id


@shared_task
def audit(order_id):
    return order_id
