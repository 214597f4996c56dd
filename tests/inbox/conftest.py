"""Fixtures for the inbox suite: a task that writes a Note, and a log of duplicate signals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airlock.integrations.django.inbox.signals import message_duplicate


@pytest.fixture
def duplicates() -> Iterator[list[dict[str, Any]]]:
    """Every ``message_duplicate`` sent during the test, as a dict of its arguments."""
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append({"task": sender, **{k: v for k, v in kwargs.items() if k != "signal"}})

    message_duplicate.connect(receiver, weak=False, dispatch_uid="tests.inbox")
    yield seen
    message_duplicate.disconnect(dispatch_uid="tests.inbox")


@pytest.fixture(params=["on conflict", "savepoint"])
def claim(request: Any, monkeypatch: Any) -> str:
    """Each way the inbox inserts its row: ``ON CONFLICT DO NOTHING`` (PostgreSQL, SQLite) and
    the savepoint + ``IntegrityError`` path of other databases, forced here on this one."""
    from airlock.integrations.django.inbox import core

    if request.param == "savepoint":
        monkeypatch.setattr(core, "UPSERT", frozenset())
    return str(request.param)
