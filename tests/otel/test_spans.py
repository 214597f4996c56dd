"""Spans from airlock's events: a scope span under the caller's, enqueue events, send spans."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.trace import SpanKind, StatusCode

import airlock
from airlock.policies import DropAll
from tests.otel.conftest import Telemetry
from tests.recording import Plain


def send_receipt(order_id: int) -> None:
    pass


def test_a_scope_span_under_the_request_span_with_an_event_per_enqueue(telemetry: Telemetry):
    executor = Plain()
    with telemetry.tracer.start_as_current_span("GET /checkout") as request:
        with airlock.scope(executor=executor):
            airlock.enqueue(send_receipt, 1, _key="receipt-1", _origin="views.py:12")
            airlock.enqueue(send_receipt, 2)
    assert executor.sent == ["send_receipt(1)", "send_receipt(2)"]
    scope = telemetry.one("airlock scope")
    assert scope.parent.span_id == request.get_span_context().span_id
    assert scope.context.trace_id == request.get_span_context().trace_id
    enqueues = [e for e in scope.events if e.name == "airlock.enqueue"]
    assert [e.attributes["airlock.intent.name"] for e in enqueues] == ["send_receipt"] * 2
    assert enqueues[0].attributes["airlock.intent.key"] == "receipt-1"
    assert enqueues[0].attributes["airlock.intent.origin"] == "views.py:12"
    assert "airlock.intent.key" not in enqueues[1].attributes
    sends = telemetry.finished("send send_receipt")
    assert len(sends) == 2
    for send in sends:
        assert send.kind is SpanKind.PRODUCER
        assert send.parent.span_id == scope.context.span_id
        assert send.attributes["airlock.fate"] == "dispatched"
        assert send.attributes["messaging.operation.type"] == "send"
    ids = [e.attributes["airlock.intent.id"] for e in enqueues]
    assert [s.attributes["messaging.message.id"] for s in sends] == ["receipt-1", ids[1]]
    # The scope span ends after its last intent's fate: it holds every send.
    assert scope.end_time >= max(s.end_time for s in sends)


@pytest.mark.usefixtures("fresh_configuration")  # a plain Scope: fail-fast
def test_a_failed_send_is_an_error_span_with_the_exception(telemetry: Telemetry):
    with pytest.raises(airlock.DispatchError):
        with airlock.scope(executor=Plain(fail_on=1)):
            airlock.enqueue(send_receipt, 1)
    send = telemetry.one("send send_receipt")
    assert send.attributes["airlock.fate"] == "failed"
    assert send.status.status_code is StatusCode.ERROR
    assert [e.name for e in send.events] == ["exception"]
    assert "the broker refused" in send.events[0].attributes["exception.message"]


def test_fates_without_a_send_are_events_on_the_scope_span(telemetry: Telemetry):
    with airlock.scope(executor=Plain(), policy=DropAll()):
        airlock.enqueue(send_receipt, 1)
    with pytest.raises(ValueError):
        with airlock.scope(executor=Plain()):
            airlock.enqueue(send_receipt, 2)
            raise ValueError("the view failed")
    dropped, discarded = telemetry.finished("airlock scope")
    assert not telemetry.finished("send send_receipt")
    (fate,) = [e for e in dropped.events if e.name == "airlock.fate"]
    assert fate.attributes["airlock.fate"] == "dropped"
    assert "DropAll" in fate.attributes["airlock.fate.reason"]
    (fate,) = [e for e in discarded.events if e.name == "airlock.fate"]
    assert fate.attributes["airlock.fate"] == "discarded"


def test_a_captured_intent_is_sent_under_the_outer_scope_span(telemetry: Telemetry):
    executor = Plain()
    with airlock.scope(executor=executor):
        with airlock.scope():
            airlock.enqueue(send_receipt, 1)
    # The outer scope's span starts when it first holds an intent: here, at the capture.
    inner, outer = telemetry.finished("airlock scope")
    assert [e.name for e in inner.events] == ["airlock.enqueue"]
    assert [e.name for e in outer.events] == ["airlock.capture"]
    assert telemetry.one("send send_receipt").parent.span_id == outer.context.span_id
    assert executor.sent == ["send_receipt(1)"]
