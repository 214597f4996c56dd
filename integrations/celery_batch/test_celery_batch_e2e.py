"""A stock Celery worker consumes what the batched Redis path publishes, as if apply_async had.

Real Redis (broker DB 8, recorder DB 9), a real ``celery worker`` process with no airlock code
in its task path. One flush sends a few hundred intents in one pipeline: the worker must run each
exactly once with its arguments, task id (key or id), queue and eta.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.services import require_module, require_service

require_module("celery", "celery")

import airlock  # noqa: E402
from airlock.integrations.executors.celery import celery_batch_executor  # noqa: E402
from integrations.celery_batch.worker_app import (  # noqa: E402
    DEFAULT_QUEUE,
    RECORDER,
    SPECIAL_QUEUE,
    app,
    record,
)
from tests.processes import running, wait_until  # noqa: E402

N = 300


@pytest.fixture(scope="module")
def worker():
    require_service("redis")
    app.connection_for_write().default_channel.client.flushdb()
    RECORDER.flush()
    argv = [
        sys.executable, "-m", "celery", "-A", "integrations.celery_batch.worker_app", "worker",
        "-Q", f"{DEFAULT_QUEUE},{SPECIAL_QUEUE}", "--pool=solo", "--without-gossip",
        "--without-mingle", "--without-heartbeat", "--loglevel=INFO", "-n", "perf-batch@%h",
    ]  # fmt: skip
    with running(argv, ready=lambda w: " ready." in w.output(), ready_timeout=60) as proc:
        yield proc
    app.connection_for_write().default_channel.client.flushdb()
    RECORDER.flush()


def test_stock_worker_runs_a_batched_flush_exactly_as_sent(worker) -> None:
    eta = datetime.now(timezone.utc) + timedelta(seconds=3)
    with airlock.scope(executor=celery_batch_executor) as scope:
        for i in range(N):
            airlock.enqueue(record, "bulk", i, square=i * i, _key=f"bulk-{i}" if i % 2 else None)
        airlock.enqueue(record, "special", "x", _dispatch_options={"queue": SPECIAL_QUEUE})
        airlock.enqueue(record, "later", _dispatch_options={"countdown": 3})
        airlock.enqueue(record, "at", _dispatch_options={"eta": eta})
    sent_at = time.time()
    assert len(scope.dispatched) == N + 3

    def all_ran() -> list[dict]:
        entries = RECORDER.entries()
        return entries if len(entries) >= N + 3 else []

    entries = wait_until(all_ran, timeout=60, what=f"the worker to run {N + 3} tasks")
    assert len(entries) == N + 3
    by_label: dict[str, list[dict]] = {}
    for entry in entries:
        by_label.setdefault(entry["label"], []).append(entry)

    bulk = by_label["bulk"]
    assert sorted(e["args"][0] for e in bulk) == list(range(N))  # each exactly once
    expected_ids = {i.args[1]: i.key or i.id for i in scope.dispatched if i.args[0] == "bulk"}
    for entry in bulk:
        i = entry["args"][0]
        assert entry["kwargs"] == {"square": i * i}
        assert entry["task_id"] == expected_ids[i]
        assert entry["queue"] == DEFAULT_QUEUE
    assert by_label["special"][0]["queue"] == SPECIAL_QUEUE
    assert by_label["special"][0]["args"] == ["x"]
    for label in ("later", "at"):
        (entry,) = by_label[label]
        assert entry["eta"] is not None
        ran_eta = datetime.fromisoformat(entry["eta"])
        assert ran_eta >= eta - timedelta(seconds=1)  # 3 s after the enqueue
        assert entry["at"] >= ran_eta.timestamp() - 0.5  # not run before its eta
        assert entry["at"] >= sent_at + 1.5
