"""The inbox's duplicates are counted: ``airlock.inbox.duplicates`` by task name."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")

from airlock.integrations.django.inbox import run_once
from tests.otel.conftest import Telemetry


@pytest.mark.django_db
def test_each_skipped_redelivery_is_counted_by_task(telemetry: Telemetry) -> None:
    applied: list[int] = []
    for _ in range(3):
        run_once("order-1", applied.append, (1,), task="shop.charge")
    run_once("order-2", applied.append, (2,), task="shop.refund")
    run_once("order-2", applied.append, (2,), task="shop.refund")
    assert applied == [1, 2]
    counts = {
        p.attributes["airlock.task.name"]: p.value
        for p in telemetry.points("airlock.inbox.duplicates")
    }
    assert counts == {"shop.charge": 2, "shop.refund": 1}


def test_uninstrument_disconnects_the_counter() -> None:
    from airlock.integrations import otel
    from airlock.integrations.django.inbox.signals import message_duplicate

    otel.instrument(outbox=False)
    assert message_duplicate.receivers
    otel.uninstrument()
    assert not message_duplicate.receivers
