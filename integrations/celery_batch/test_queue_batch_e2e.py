"""Stock dramatiq and huey workers consume what their batched paths publish.

Real Redis (broker and recorder on DB 9; the benchmarks use DB 8), real RabbitMQ for dramatiq
on RabbitMQ (queues ``matrix_perf_e2e*``), and a real worker process per queue, with no
airlock code in the task path; the same check as for Celery (scenario.py).
"""

from __future__ import annotations

import pytest

from integrations.celery_batch.scenario import DELAY_S, check_batched_flush
from tests.processes import running
from tests.services import redis_url, require_module, require_service


def flush_broker_db() -> None:
    import redis

    redis.Redis.from_url(redis_url(9)).flushdb()


def test_stock_dramatiq_worker_runs_a_batched_flush_exactly_as_sent() -> None:
    require_service("redis")
    require_module("dramatiq", "dramatiq")
    from airlock.integrations.executors.dramatiq import dramatiq_batch_executor
    from integrations.celery_batch.dramatiq_app import QUEUE, RECORDER, SPECIAL_QUEUE, record

    flush_broker_db()
    RECORDER.flush()
    argv = ["python", "-m", "dramatiq", "integrations.celery_batch.dramatiq_app"]
    argv += ["--processes", "1", "--threads", "2", "--queues", QUEUE, SPECIAL_QUEUE]
    try:
        with running(argv, ready=lambda w: "ready for action" in w.output()):
            check_batched_flush(
                dramatiq_batch_executor,
                record,
                RECORDER,
                queue=QUEUE,
                delayed={"delay": DELAY_S * 1000},
                special={"queue_name": SPECIAL_QUEUE},
            )
    finally:
        flush_broker_db()
        RECORDER.flush()


def test_stock_dramatiq_worker_on_rabbitmq_runs_a_batched_flush_exactly_as_sent() -> None:
    require_service("redis")
    require_service("rabbitmq")
    require_module("dramatiq", "dramatiq")
    require_module("pika", "dramatiq")
    from airlock.integrations.executors.dramatiq import dramatiq_batch_executor
    from integrations.celery_batch import dramatiq_rabbitmq_app as app

    def purge() -> None:
        for queue in (app.QUEUE, app.SPECIAL_QUEUE):
            app.broker.flush(queue)

    app.broker.declare_queue(app.QUEUE, ensure=True)
    app.broker.declare_queue(app.SPECIAL_QUEUE, ensure=True)
    purge()
    app.RECORDER.flush()
    argv = ["python", "-m", "dramatiq", "integrations.celery_batch.dramatiq_rabbitmq_app"]
    argv += ["--processes", "1", "--threads", "2", "--queues", app.QUEUE, app.SPECIAL_QUEUE]
    try:
        with running(argv, ready=lambda w: "ready for action" in w.output()):
            check_batched_flush(
                dramatiq_batch_executor,
                app.record,
                app.RECORDER,
                queue=app.QUEUE,
                delayed={"delay": DELAY_S * 1000},
                special={"queue_name": app.SPECIAL_QUEUE},
            )
    finally:
        purge()
        app.RECORDER.flush()


@pytest.mark.timeout(120)
def test_stock_huey_consumer_runs_a_batched_flush_exactly_as_sent() -> None:
    require_service("redis")
    require_module("huey", "huey")
    from airlock.integrations.executors.huey import huey_batch_executor
    from integrations.celery_batch.huey_app import RECORDER, record

    flush_broker_db()
    RECORDER.flush()
    argv = ["python", "-m", "huey.bin.huey_consumer", "integrations.celery_batch.huey_app.huey"]
    argv += ["-w", "2", "-k", "thread", "-d", "0.05", "-m", "0.25", "-s", "1", "-n"]
    try:
        with running(argv, ready=lambda w: "consumer started" in w.output().lower()):
            check_batched_flush(
                huey_batch_executor, record, RECORDER, queue=None, delayed={"delay": DELAY_S}
            )
    finally:
        flush_broker_db()
        RECORDER.flush()
