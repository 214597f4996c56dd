"""The inbox end to end on PostgreSQL with real workers: every effect applied exactly once.

1. A producer commits 1,000 orders with a durable intent each and is SIGKILLed mid-flush, after
   the batch executor published all 1,000 messages but before the outbox marked most of them
   sent; the relay resends those, so hundreds reach the consumer twice. Celery (4 threads) and
   dramatiq (4 threads) consumers on Redis apply each order's counter exactly once.
2. A Celery worker (``acks_late``, RabbitMQ) SIGKILLed inside the task, then after its commit
   but before the ack: RabbitMQ redelivers both messages; each order is applied once.

Redis DB 10 is reserved for this suite (its brokers); RabbitMQ queue ``airlock_inbox_celery``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import amqp_url, redis_url, require_module, require_service

require_module("celery", "celery")
require_module("dramatiq", "dramatiq")
require_module("redis", "celery")

import redis  # noqa: E402
from django.db import DatabaseError, connection, transaction  # noqa: E402

from airlock.integrations.django.inbox.models import InboxMessage  # noqa: E402
from airlock.integrations.django.outbox.models import OutboxMessage  # noqa: E402
from integrations.inbox.models import Delivery, Order  # noqa: E402
from tests.processes import ROOT, Worker, running, wait_until  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

CELERY_QUEUE = "airlock_inbox_celery"
DRAMATIQ_QUEUE = "airlock_inbox_dramatiq"
COUNT, KILL_AT = 1000, 400


@pytest.fixture(autouse=True)
def services() -> Iterator[None]:
    require_service("postgres")
    require_service("redis")
    client = redis.Redis.from_url(redis_url(10))
    client.flushdb()
    yield
    client.flushdb()


def env_for(queue: str, **extra: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "integrations.inbox.e2e_settings",
        "AIRLOCK_E2E_DB_NAME": connection.settings_dict["NAME"],
        "AIRLOCK_INBOX_QUEUE": queue,
        "AIRLOCK_INBOX_BROKER": redis_url(10),
        **extra,
    }


def consumer(queue: str, env: dict[str, str], pool: str = "threads") -> Any:
    env = {**env, "AIRLOCK_INBOX_WORKER": "1"}
    if queue == "celery":
        argv = ["python", "-m", "celery", "-A", "integrations.inbox.celery_app", "worker",
                f"--pool={pool}", "-c", "4", "-Q", CELERY_QUEUE, "-l", "info",
                "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
        return running(argv, env=env, ready=lambda w: " ready." in w.output())
    argv = ["python", "-m", "dramatiq", "integrations.inbox.dramatiq_app", "--processes", "1",
            "--threads", "4", "--queues", DRAMATIQ_QUEUE]  # fmt: skip
    return running(argv, env=env, ready=lambda w: "ready for action" in w.output())


def relay(env: dict[str, str]) -> contextlib.AbstractContextManager[Worker]:
    argv = ["python", "-m", "django", "airlock_relay", "--no-progress"]
    return running(argv, env=env, ready=lambda w: "relaying from" in w.output())


def produce(env: dict[str, str], queue: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "integrations.inbox.produce", queue, str(COUNT), str(KILL_AT)],
        env={**env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, (done.stdout + done.stderr).decode()[-3000:]
    return done.stdout.decode()


def kill(worker: Worker) -> None:
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait(10)


@pytest.mark.parametrize("queue", ["celery", "dramatiq"])
def test_a_producer_killed_mid_flush_resends_hundreds_and_each_applies_once(queue: str) -> None:
    env = env_for(queue)
    assert "400 marked sent; dying mid-flush" in produce(env, queue)
    assert Order.objects.count() == COUNT
    statuses = collections.Counter(OutboxMessage.objects.values_list("status", flat=True))
    # The kill lands on the KILL_AT-th "dispatched" event, before or after the outbox's own
    # listener marked that row sent; the other rows were published but are still pending.
    resent = statuses["pending"]
    assert statuses["sent"] in (KILL_AT - 1, KILL_AT) and statuses["sent"] + resent == COUNT
    with consumer(queue, env), relay(env):
        wait_until(
            lambda: (
                Delivery.objects.count() >= COUNT + resent
                and not OutboxMessage.objects.filter(status="pending").exists()
                and not Order.objects.filter(applied=0).exists()
            ),
            timeout=150,
            interval=0.25,
            what=f"{COUNT + resent} deliveries and every order applied",
        )
    per_order = collections.Counter(Delivery.objects.values_list("order", flat=True))
    twice = sum(1 for n in per_order.values() if n == 2)
    assert twice == resent >= 500 and len(per_order) == COUNT  # hundreds delivered twice
    assert set(Order.objects.values_list("applied", flat=True)) == {1}  # ...each applied once
    ids = set(OutboxMessage.objects.values_list("message_id", flat=True))
    assert set(InboxMessage.objects.values_list("message_id", flat=True)) == ids
    assert set(Delivery.objects.values_list("message_id", flat=True)) == ids


def locked(order: int) -> bool:
    """True while another transaction holds the order's row (the task's update, uncommitted)."""
    try:
        with transaction.atomic():
            Order.objects.select_for_update(nowait=True).filter(pk=order).exists()
    except DatabaseError:
        return True
    return False


def test_a_worker_killed_mid_task_gets_its_message_again_and_applies_it_once() -> None:
    require_service("rabbitmq")
    from kombu import Connection

    from integrations.inbox.celery_app import app, apply_order_task

    env = env_for("celery", AIRLOCK_INBOX_BROKER=amqp_url())
    in_tx, after_commit, last = (Order.objects.create(queue="celery") for _ in range(3))
    with Connection(amqp_url()) as conn:
        with contextlib.suppress(Exception):  # a queue left over from an interrupted run
            conn.default_channel.queue_purge(CELERY_QUEUE)

    def publish(order: Order, stall: str = "") -> None:
        with app.connection_for_write(amqp_url()) as conn:
            apply_order_task.apply_async((order.pk, stall), task_id=f"order-{order.pk}",
                                         connection=conn)  # fmt: skip

    def deliveries(order: Order) -> int:
        return Delivery.objects.filter(order=order.pk).count()

    # (a) killed inside the task's transaction: it rolls back; the redelivery applies
    publish(in_tx, "in_transaction")
    with consumer("celery", env, pool="solo") as worker:
        wait_until(lambda: locked(in_tx.pk), timeout=30, what="the task inside its transaction")
        kill(worker)
    in_tx.refresh_from_db()
    assert in_tx.applied == 0 and not InboxMessage.objects.exists()
    # (b) killed after the commit, before the ack: the redelivery is a duplicate
    publish(after_commit, "after_commit")
    with consumer("celery", env, pool="solo") as worker:
        wait_until(
            lambda: Order.objects.get(pk=after_commit.pk).applied == 1,
            timeout=30,
            what="the redelivered (a) and then (b) applied",
        )
        kill(worker)  # (b) committed and now hangs: its message is not acknowledged
    publish(last)  # behind (b)'s redelivery: the solo worker runs them in order
    with consumer("celery", env, pool="solo"):
        wait_until(lambda: deliveries(last) == 1 and Order.objects.get(pk=last.pk).applied,
                   timeout=30, what="the last order applied")  # fmt: skip
    # At least twice each (a message whose ack had not reached RabbitMQ when its worker died
    # comes once more: at least once is what a broker promises), applied once each.
    assert deliveries(in_tx) >= 2 and deliveries(after_commit) >= 2 and deliveries(last) == 1
    assert set(Order.objects.values_list("applied", flat=True)) == {1}
    assert sorted(InboxMessage.objects.values_list("message_id", flat=True)) == sorted(
        f"order-{o.pk}" for o in (in_tx, after_commit, last)
    )
