"""huey tasks: calling one enqueues it (importable: an in-memory huey)."""

from huey import MemoryHuey, crontab

huey = MemoryHuey("shop", immediate=False)


@huey.task()
def send_invoice(order_id):
    return order_id


@huey.task(retries=2, priority=5)
def ping(order_id):
    return order_id


@huey.periodic_task(crontab(minute="0"))
def nightly():
    return send_invoice(0)  # flagged


reports: MemoryHuey = MemoryHuey("reports", immediate=False)


@reports.task()
def build_report(day):
    return day


@huey.lock_task("reports")
def not_a_task():
    return 1


def plain(order_id):
    send_invoice.call_local(order_id)  # runs here, no queue
    return ping.s(order_id)  # builds a signature; enqueueing it is huey.enqueue(...)
