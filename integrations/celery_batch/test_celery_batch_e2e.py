"""A stock Celery worker consumes what the batched Redis path publishes, as if apply_async had.

Real Redis (broker and recorder on DB 9; the benchmarks use DB 8), a real ``celery worker``
process with no airlock code in its task path. One flush sends a few hundred intents in one
transaction (see scenario.py).
"""

from __future__ import annotations

import sys

import pytest

from tests.services import require_module, require_service

require_module("celery", "celery")

from airlock.integrations.executors.celery import celery_batch_executor  # noqa: E402
from integrations.celery_batch.scenario import DELAY_S, check_batched_flush  # noqa: E402
from integrations.celery_batch.worker_app import (  # noqa: E402
    DEFAULT_QUEUE,
    RECORDER,
    SPECIAL_QUEUE,
    app,
    record,
)
from tests.processes import running  # noqa: E402


@pytest.fixture(scope="module")
def worker():
    require_service("redis")
    broker = app.connection_for_write().default_channel.client
    broker.flushdb()
    RECORDER.flush()
    argv = [
        sys.executable, "-m", "celery", "-A", "integrations.celery_batch.worker_app", "worker",
        "-Q", f"{DEFAULT_QUEUE},{SPECIAL_QUEUE}", "--pool=solo", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", "perf-batch@%h",
    ]  # fmt: skip
    with running(argv, ready=lambda w: " ready." in w.output(), ready_timeout=60) as proc:
        yield proc
    broker.flushdb()
    RECORDER.flush()


def test_stock_celery_worker_runs_a_batched_flush_exactly_as_sent(worker) -> None:
    check_batched_flush(
        celery_batch_executor,
        record,
        RECORDER,
        queue=DEFAULT_QUEUE,
        delayed={"countdown": DELAY_S},
        special={"queue": SPECIAL_QUEUE},
    )
