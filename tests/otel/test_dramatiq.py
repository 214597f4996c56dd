"""dramatiq: the trace context rides in the message option ``trace_context``; a worker
middleware extracts it (here on dramatiq's StubBroker with an in-process Worker)."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("dramatiq")

import dramatiq
from dramatiq.brokers.stub import StubBroker
from opentelemetry import propagate, trace

import airlock
from airlock.integrations.executors.dramatiq import TRACE_OPTION, dramatiq_executor
from tests.otel.conftest import Telemetry


class TraceMiddleware(dramatiq.Middleware):
    """What a worker would do: open the task's span under the message's trace context."""

    def __init__(self, tracer) -> None:
        self.tracer = tracer
        self.spans: list[object] = []

    def before_process_message(self, broker, message) -> None:
        parent = propagate.extract(message.options.get(TRACE_OPTION, {}))
        with self.tracer.start_as_current_span(
            f"process {message.actor_name}", context=parent, kind=trace.SpanKind.CONSUMER
        ) as span:
            self.spans.append(span)


def test_the_worker_reads_the_trace_context_from_the_message(telemetry: Telemetry):
    broker = StubBroker()
    broker.emit_after("process_boot")
    middleware = TraceMiddleware(telemetry.tracer)
    broker.add_middleware(middleware)
    ran: list[int] = []
    actor = dramatiq.actor(ran.append, broker=broker, actor_name="send_receipt", queue_name="q")
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    try:
        with telemetry.tracer.start_as_current_span("POST /checkout") as request:
            with airlock.scope(executor=dramatiq_executor):
                airlock.enqueue(actor, 7)
        worker.start()
        broker.join("q", fail_fast=True)
        worker.join()
    finally:
        worker.stop()
        broker.close()
    assert ran == [7]
    send = telemetry.one("send send_receipt")
    (process,) = telemetry.finished("process send_receipt")
    assert process.context.trace_id == request.get_span_context().trace_id
    assert process.parent.span_id == send.context.span_id
    assert send.attributes["messaging.system"] == "dramatiq"
