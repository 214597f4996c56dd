"""The Celery app of the OpenTelemetry end-to-end test: the worker records its task span.

Env: ``AIRLOCK_OTEL_BROKER`` (broker URL, default Redis DB 1, queue ``airlock_otel_e2e``).
The task body opens a consumer span whose parent is what the message's ``traceparent`` header
says (as ``opentelemetry-instrumentation-celery`` would) and records the span's trace id and
parent span id into Redis DB 2 (key ``airlock:e2e:otel``).
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider

from integrations.common.recorder import Recorder
from tests.services import redis_url

QUEUE = "airlock_otel_e2e"
RECORDER = Recorder(db=2, key="airlock:e2e:otel")

app = Celery("airlock_otel_e2e", broker=os.environ.get("AIRLOCK_OTEL_BROKER", redis_url(1)))
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
    broker_connection_retry_on_startup=True,
)
tracer = TracerProvider().get_tracer("worker")


@app.task(bind=True, name="integrations.otel.send_receipt")
def send_receipt(self: Any, order_id: int) -> None:
    carrier = {k: self.request.get(k) for k in ("traceparent", "tracestate") if self.request.get(k)}
    parent = propagate.extract(carrier)
    with tracer.start_as_current_span(
        "run send_receipt", context=parent, kind=trace.SpanKind.CONSUMER
    ) as span:
        context = span.get_span_context()
        linked = trace.get_current_span(parent).get_span_context()
        RECORDER.record(
            "send_receipt",
            order_id=order_id,
            carrier=carrier,
            trace_id=format(context.trace_id, "032x"),
            parent_span_id=format(linked.span_id, "016x"),
        )
