"""huey through Django (huey.contrib.djhuey): lint only, importing it needs Django settings."""

from huey import crontab
from huey.contrib import djhuey
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, task


@task()
def send_coupon(order_id):
    return order_id


@db_task()
def close_order(order_id):
    return order_id


@db_periodic_task(crontab(hour="3"))
def purge():
    close_order(0)  # flagged


@djhuey.task()
def resend(order_id):
    return order_id


@HUEY.task()
def tally(order_id):
    return order_id
