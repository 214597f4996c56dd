"""Fixtures for the fast-path suite: Redis DB 9 (the benchmarks use DB 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
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
