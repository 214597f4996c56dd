"""Fixtures for the fast-path suite: Redis DB 9 (the benchmarks use DB 8)."""

from __future__ import annotations

import itertools
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


def interrupt(monkeypatch: Any, owner: Any, name: str, call: int) -> None:
    """Call number ``call`` of ``owner.name`` raises ``KeyboardInterrupt`` instead of running.

    A forced fault: a real Ctrl-C (or a server's SIGTERM turned into ``SystemExit``) cannot be
    timed to land between two chunks of one flush.
    """
    real = getattr(owner, name)
    calls = itertools.count(1)

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, stand_in)


def fates_of_an_interrupted_flush(
    executor: Any, task: Any, count: int, options: dict[int, dict[str, Any]] | None = None
) -> list[str]:
    """Enqueue ``task(0)`` .. ``task(count - 1)`` (``options``: the dispatch options of some) in a
    scope on ``executor`` whose flush a ``KeyboardInterrupt`` stops (see ``interrupt``); the
    fate each got, in order."""
    import airlock
    from airlock.testing import capture

    with capture(execute=True) as seen, pytest.raises(KeyboardInterrupt):
        with airlock.scope(executor=executor):
            for i in range(count):
                airlock.enqueue(task, i, _dispatch_options=(options or {}).get(i))
    fates = {record.args[0]: record.fate for record in seen}
    return [fates[i] for i in range(count)]
