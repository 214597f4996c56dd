"""Fixtures for the outbox suite: outbox settings, a clean airlock configuration, tasks."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

import airlock
from airlock.integrations.django import outbox
from airlock.integrations.django.outbox import recorder
from airlock.integrations.django.outbox.models import OutboxMessage

delivered: list[tuple[Any, ...]] = []
failures: dict[str, int] = {}


@outbox.register(name="tests.deliver")
def deliver(order_id: int, note: str = "") -> None:
    delivered.append((order_id, note))


@outbox.register(name="tests.flaky")
def flaky(order_id: int) -> None:
    """Fails while ``failures['flaky']`` is positive (counting down), then delivers."""
    if failures.get("flaky", 0) > 0:
        failures["flaky"] -= 1
        raise ConnectionError("broker unreachable")
    delivered.append((order_id, "flaky"))


relayed: list[airlock.Intent] = []
sigterm_at: list[int] = []  # relay_executor sends this process SIGTERM after that many sends


def relay_executor(intent: airlock.Intent) -> None:
    """An executor for ``AIRLOCK["OUTBOX"]["EXECUTOR"]``: records what the relay hands it."""
    relayed.append(intent)
    if sigterm_at and len(relayed) == sigterm_at[0]:
        os.kill(os.getpid(), signal.SIGTERM)


def not_registered(order_id: int) -> None:
    delivered.append((order_id, "unregistered"))


@pytest.fixture(autouse=True)
def outbox_settings(settings: Any) -> dict[str, Any]:
    """Relay rows at once (no grace), three attempts, no backoff; the sync executor.

    Changing ``AIRLOCK`` re-applies it to airlock's configuration (and back after the test).
    """
    conf = {"GRACE": 0, "MAX_ATTEMPTS": 3, "BACKOFF": 0, "MAX_BACKOFF": 0}
    settings.AIRLOCK = {"OUTBOX": conf}
    delivered.clear()
    relayed.clear()
    sigterm_at.clear()
    failures.clear()
    recorder.forget()
    return conf


def rows(**filters: Any) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(**filters).order_by("id"))


def stored(task: Any, *args: Any, _key: str | None = None, **kwargs: Any) -> airlock.Intent:
    """A row as a process leaves it when it dies before its scope decides: written, unsettled."""
    intent = airlock.Intent(
        task=task, args=args, kwargs=kwargs, key=_key, dispatch_options={"durable": True}
    )
    recorder.record(intent)
    recorder.forget(intent.id)  # the process is gone: nobody settles this row
    return intent
