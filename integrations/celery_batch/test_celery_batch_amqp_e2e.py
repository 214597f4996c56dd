"""A stock Celery worker consumes what the batched RabbitMQ path publishes, as if apply_async had.

Real RabbitMQ (queues ``broker_e2e_*``), a real ``celery worker`` process with no airlock code
in its task path, a recorder on Redis DB 7. One flush sends a few hundred intents, published on
one channel and confirmed once (see scenario.py).
"""

from __future__ import annotations

import sys

import pytest

from tests.services import require_module, require_service

require_module("celery", "celery")

from airlock.integrations.executors._celery_route import route_for  # noqa: E402
from airlock.integrations.executors.celery import celery_batch_executor  # noqa: E402
from integrations.celery_batch.amqp_worker_app import (  # noqa: E402
    DEFAULT_QUEUE,
    RECORDER,
    SPECIAL_QUEUE,
    app,
    record,
)
from integrations.celery_batch.scenario import DELAY_S, check_batched_flush  # noqa: E402
from tests.processes import running  # noqa: E402


def _purge() -> None:
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        for name in (DEFAULT_QUEUE, SPECIAL_QUEUE):
            channel.queue_declare(name, durable=True, auto_delete=False)
            channel.queue_purge(name)


@pytest.fixture(scope="module")
def worker():
    require_service("rabbitmq")
    require_service("redis")
    _purge()
    RECORDER.flush()
    argv = [
        sys.executable, "-m", "celery", "-A", "integrations.celery_batch.amqp_worker_app",
        "worker", "-Q", f"{DEFAULT_QUEUE},{SPECIAL_QUEUE}", "--pool=solo", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", "broker-amqp@%h",
    ]  # fmt: skip
    with running(argv, ready=lambda w: " ready." in w.output(), ready_timeout=60) as proc:
        yield proc
    _purge()
    RECORDER.flush()


def test_stock_celery_worker_runs_a_batched_rabbitmq_flush_exactly_as_sent(worker) -> None:
    check_batched_flush(
        celery_batch_executor,
        record,
        RECORDER,
        queue=DEFAULT_QUEUE,
        delayed={"countdown": DELAY_S},
        special={"queue": SPECIAL_QUEUE},
    )
    route = route_for(app)  # the flush went through the batched RabbitMQ path
    assert route is not None
    route.lock.release()
    assert route.kind == "amqp" and route.confirmed >= 300
