"""Fixtures for the fast-path suite: Redis DB 9 (the benchmarks use DB 8)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.services import redis_url, require_module, require_service

DB = 9


@pytest.fixture
def redis_db() -> Iterator[Any]:
    """A client on Redis DB 9, flushed before and after the test."""
    require_service("redis")
    require_module("redis", "celery")
    import redis

    client = redis.Redis.from_url(redis_url(DB))
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def drain(client: Any, key: str) -> list[dict[str, Any]]:
    """Every message in a kombu Redis list, oldest first (the order a worker pops them)."""
    raw = client.lrange(key, 0, -1)
    client.delete(key)
    return [json.loads(item) for item in reversed(raw)]


def clock_figure(ms: int | str, around: datetime, *, until: bool = False) -> str:
    """Check a millisecond figure a publisher took from its clock, then blank it.

    ``around`` is what it stands for: the moment itself (an eta in epoch milliseconds), or with
    ``until`` the milliseconds left until it (a Celery AMQP ``expiration``). Two messages
    published moments apart differ by those moments, so comparing them rounded would fail
    whenever the two straddle a rounding edge; each is checked against the clock instead, with
    a minute to spare, and both come back as the same marker.
    """
    target = around.timestamp() * 1000
    expected = target - time.time() * 1000 if until else target
    assert abs(int(ms) - expected) <= 60_000, (ms, expected)
    return "~"
