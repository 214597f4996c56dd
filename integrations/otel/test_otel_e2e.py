"""OpenTelemetry end to end: a request's trace reaches a real Celery worker on Redis.

The test process instruments airlock with the SDK's in-memory exporter and sends one intent
through ``celery_executor`` inside a request span; the worker (``worker_app``) records the span
its task ran in. Shares the Celery suite's Redis DBs (broker 1, recorder 2) with its own queue
and recorder key.
"""

from __future__ import annotations

import pytest

from tests.services import redis_url, require_module, require_service

require_module("celery", "celery")
require_module("opentelemetry", "otel")
require_module("opentelemetry.sdk", "dev")  # the in-memory exporter

from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

import airlock  # noqa: E402
from airlock.integrations import otel  # noqa: E402
from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from integrations.otel.worker_app import QUEUE, RECORDER, app, send_receipt  # noqa: E402
from tests.processes import running  # noqa: E402

ARGV = [
    "python", "-m", "celery", "-A", "integrations.otel.worker_app", "worker", "--pool=solo",
    "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=info",
    "-Q", QUEUE, "-n", "otel@%h",
]  # fmt: skip


@pytest.fixture(scope="module")
def worker():
    require_service("redis")
    url = redis_url(1)
    app.conf.broker_url = url
    with running(
        ARGV,
        env={"AIRLOCK_OTEL_BROKER": url},
        ready=lambda w: "ready." in w.output(),
    ) as process:
        yield process


def test_the_workers_span_is_in_the_requests_trace(worker):
    RECORDER.client.delete(RECORDER.key)  # DB 2 is the Celery suite's too: only our key
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.instrument(provider, outbox=False)
    try:
        tracer = provider.get_tracer("web")
        with tracer.start_as_current_span("POST /checkout/", kind=trace.SpanKind.SERVER) as request:
            with airlock.scope(executor=celery_executor):
                airlock.enqueue(send_receipt, 42)
    finally:
        otel.uninstrument()
    (ran,) = RECORDER.wait_for("send_receipt", timeout=30)
    send = next(s for s in exporter.get_finished_spans() if s.name == "send send_receipt")
    assert ran["order_id"] == 42
    assert ran["trace_id"] == format(request.get_span_context().trace_id, "032x")
    assert ran["parent_span_id"] == format(send.context.span_id, "016x")
