"""DjangoScope: fates decided at commit or rollback land on the scope span, which waits for them."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from django.db import transaction

import airlock
from airlock.integrations.django import DjangoScope
from tests.otel.conftest import Telemetry
from tests.recording import Plain

pytestmark = pytest.mark.django_db(transaction=True)


def send_receipt(order_id: int) -> None:
    pass


def test_a_rollback_is_an_event_on_the_scope_span(telemetry: Telemetry):
    executor = Plain()
    with DjangoScope(executor=executor):
        airlock.enqueue(send_receipt, 1)
        try:
            with transaction.atomic():
                airlock.enqueue(send_receipt, 2)
                raise ValueError("card declined")
        except ValueError:
            pass
    assert executor.sent == ["send_receipt(1)"]
    scope = telemetry.one("airlock scope")
    fates = [e.attributes for e in scope.events if e.name == "airlock.fate"]
    assert [(f["airlock.fate"], f["airlock.fate.reason"]) for f in fates] == [
        ("rolled_back", "default")
    ]
    assert telemetry.one("send send_receipt").attributes["airlock.fate"] == "dispatched"
    counts = {p.attributes["airlock.fate"]: p.value for p in telemetry.points("airlock.intents")}
    assert counts == {"dispatched": 1, "rolled_back": 1}


def test_a_send_failing_after_commit_is_recorded_and_the_scope_span_waits_for_it(
    telemetry: Telemetry,
):
    with transaction.atomic():
        with DjangoScope(executor=Plain(fail_on=1)):
            airlock.enqueue(send_receipt, 1)
        # The scope is over; its intent waits for the commit, and so does its span.
        assert telemetry.finished() == []
    send = telemetry.one("send send_receipt")
    scope = telemetry.one("airlock scope")
    assert send.attributes["airlock.fate"] == "failed"
    assert send.parent.span_id == scope.context.span_id
    assert scope.end_time >= send.end_time
