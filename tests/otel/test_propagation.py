"""Trace context travels with the message: Celery headers, webhook HTTP headers."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

import json
from typing import Any

from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import airlock
from tests.otel.conftest import Telemetry

celery = pytest.importorskip("celery")

app = celery.Celery("airlock_otel", broker="memory://", set_as_current=False)
QUEUE = "airlock-otel"


@app.task(name="tests.otel.send_receipt")
def send_receipt(order_id: int) -> None:
    pass


def parent_of(headers: dict[str, Any]) -> Any:
    """The span context a consumer extracts from ``headers`` (W3C traceparent)."""
    from opentelemetry import trace

    context = TraceContextTextMapPropagator().extract(headers)
    return trace.get_current_span(context).get_span_context()


def queued_headers() -> list[dict[str, Any]]:
    """The headers of every message waiting in the memory broker's queue (taken out)."""
    found = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue(QUEUE, no_ack=True)
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                break
            found.append(message.headers)
        queue.close()
    return found


@pytest.mark.parametrize("executor", ["celery_executor", "celery_batch_executor"])
def test_the_celery_message_carries_the_send_span_as_traceparent(telemetry: Telemetry, executor):
    from airlock.integrations.executors import celery as celery_executors

    queued_headers()  # nothing left over from another test
    with telemetry.tracer.start_as_current_span("POST /checkout") as request:
        with airlock.scope(executor=getattr(celery_executors, executor)):
            airlock.enqueue(send_receipt, 7, _dispatch_options={"queue": QUEUE})
    (headers,) = queued_headers()
    send = telemetry.one("send send_receipt")
    carried = parent_of(headers)
    assert carried.trace_id == request.get_span_context().trace_id
    assert carried.span_id == send.context.span_id  # the worker's span is the send's child
    assert send.attributes["messaging.system"] == "celery"
    assert send.attributes["messaging.destination.name"] == QUEUE
    assert send.attributes["messaging.message.id"] == headers["id"]
    assert send.attributes["airlock.fate"] == "dispatched"


def test_a_celery_message_sent_without_airlock_is_left_alone(telemetry: Telemetry):
    queued_headers()
    with telemetry.tracer.start_as_current_span("POST /checkout"):
        send_receipt.apply_async((1,), queue=QUEUE)
    (headers,) = queued_headers()
    assert "traceparent" not in headers


def test_the_webhook_receiver_sees_traceparent(telemetry: Telemetry):
    from airlock.integrations.executors.webhook import verify_webhook, webhook_executor
    from tests.executors.servers import serve

    def accept(path: str, body: bytes, headers: Any) -> tuple[int, dict[str, str], bytes]:
        verify_webhook(body, headers, "s3cret")  # the signature still holds
        return 204, {}, b""

    with serve(accept) as (url, received):
        with telemetry.tracer.start_as_current_span("POST /checkout") as request:
            with airlock.scope(executor=webhook_executor(url, secret="s3cret")):
                airlock.enqueue(send_receipt, 7)
    ((_, body, headers),) = received.requests
    carried = parent_of({k.lower(): v for k, v in headers.items()})
    send = telemetry.one("send send_receipt")
    assert carried.trace_id == request.get_span_context().trace_id
    assert carried.span_id == send.context.span_id
    assert send.attributes["messaging.system"] == "webhook"
    assert json.loads(body)["args"] == [7]


def test_the_lambda_function_gets_the_context_in_its_client_context(telemetry: Telemetry):
    boto3 = pytest.importorskip("boto3")
    import base64

    from airlock.integrations.executors.aws_lambda import lambda_executor
    from tests.executors.lambda_server import ACCESS_KEY, REGION, SECRET_KEY, LambdaService
    from tests.executors.servers import serve

    service = LambdaService({"mailer"})
    with serve(service) as (base, received):
        service.base = base
        client = boto3.client(
            "lambda", endpoint_url=base, region_name=REGION,
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
        )
        with telemetry.tracer.start_as_current_span("POST /checkout") as request:
            with airlock.scope(executor=lambda_executor("mailer", client=client)):
                airlock.enqueue(send_receipt, 7)
    assert len(service.invocations) == 1  # accepted: the signature covers the header
    ((_, _, headers),) = received.requests
    context = json.loads(base64.b64decode(headers["X-Amz-Client-Context"]))
    carried = parent_of(context["custom"])
    assert carried.trace_id == request.get_span_context().trace_id
    assert carried.span_id == telemetry.one("send send_receipt").context.span_id
