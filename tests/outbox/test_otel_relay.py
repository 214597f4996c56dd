"""The outbox keeps the enqueue-time trace context; the relay's send joins that trace."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from django.utils import timezone
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)

from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay
from airlock.integrations.executors.webhook import webhook_executor
from tests.executors.servers import serve
from tests.otel import conftest as otel_conftest
from tests.otel.conftest import Telemetry
from tests.outbox.conftest import deliver, rows, stored

telemetry = otel_conftest.telemetry  # the fixture: an instrumented airlock, in-memory exporters

pytestmark = pytest.mark.django_db


def test_a_relayed_send_is_a_child_of_the_span_that_enqueued_it(telemetry: Telemetry):
    with telemetry.tracer.start_as_current_span("POST /checkout") as request:
        stored(deliver, 1)  # written; its process died before sending it
    assert json.loads(rows()[0].payload)["trace"]["traceparent"]

    def accept(path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        return 204, {}, b""

    with serve(accept) as (url, received):
        # Later, in the relay's own process and trace.
        with telemetry.tracer.start_as_current_span("relay batch") as batch:
            assert Relay(executor=webhook_executor(url, secret="s")).drain() == 1
    assert [r.status for r in rows()] == ["sent"]
    send = telemetry.one("send deliver")
    assert send.context.trace_id == request.get_span_context().trace_id
    assert send.parent.span_id == request.get_span_context().span_id
    assert send.attributes["airlock.relayed"] is True
    assert [link.context.span_id for link in send.links] == [batch.get_span_context().span_id]
    assert send.attributes["airlock.fate"] == "dispatched"
    ((_, _, headers),) = received.requests
    context = TraceContextTextMapPropagator().extract({k.lower(): v for k, v in headers.items()})
    assert trace.get_current_span(context).get_span_context().span_id == send.context.span_id
    (delay,) = telemetry.points("airlock.dispatch.delay")
    assert delay.count == 1
    (count,) = telemetry.points("airlock.intents")
    assert (count.attributes["airlock.fate"], count.value) == ("dispatched", 1)


def test_without_instrumentation_rows_keep_no_trace():
    with trace.get_tracer("tests").start_as_current_span("POST /checkout"):
        stored(deliver, 1)
    assert "trace" not in json.loads(rows()[0].payload)
    assert Relay().drain() == 1


def test_the_outbox_backlog_is_an_observable_gauge(settings: Any):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from airlock.integrations import otel

    reader = InMemoryMetricReader()
    otel.instrument(meter_provider=MeterProvider(metric_readers=[reader]), outbox=True)
    try:
        settings.AIRLOCK = {"OUTBOX": {"GRACE": 3600}}  # rows stay pending
        stored(deliver, 1)
        stored(deliver, 2)
        OutboxMessage.objects.filter(pk=rows()[0].pk).update(
            created_at=timezone.now() - dt.timedelta(minutes=10)
        )
        gauges = {m.name: m.data.data_points[0].value for m in metrics_of(reader)}
        assert gauges["airlock.outbox.pending"] == 2
        assert 600 <= gauges["airlock.outbox.oldest_age"] < 660
        OutboxMessage.objects.update(status="sent")
        gauges = {m.name: m.data.data_points[0].value for m in metrics_of(reader)}
        assert gauges == {"airlock.outbox.pending": 0, "airlock.outbox.oldest_age": 0}
    finally:
        otel.uninstrument()


def metrics_of(reader: Any) -> list[Any]:
    data = reader.get_metrics_data()
    return [m for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics]
