"""What worker tasks ran, kept in a Redis list: workers ``record()``, tests read and wait.

Each suite uses its own Redis DB (integrations/README.md lists them), so suites never collide.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from tests.processes import wait_until
from tests.services import redis_url

KEY = "airlock:e2e:ran"


class Recorder:
    """A Redis-backed log of task runs: one JSON object per run, in the order they ran."""

    def __init__(self, db: int, key: str = KEY) -> None:
        self.db = db
        self.key = key
        self.client = redis.Redis.from_url(redis_url(db))

    def record(self, label: str, **fields: Any) -> None:
        """Called by a task on the worker: append ``{"label": ..., "at": time, **fields}``."""
        entry = {"label": label, "at": time.time(), **fields}
        self.client.rpush(self.key, json.dumps(entry, default=str))

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.client.lrange(self.key, 0, -1)]

    def labels(self) -> list[str]:
        return [entry["label"] for entry in self.entries()]

    def wait_for(self, label: str, count: int = 1, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until ``label`` was recorded ``count`` times; return every entry so far."""

        def seen() -> list[dict[str, Any]]:
            entries = self.entries()
            return entries if sum(e["label"] == label for e in entries) >= count else []

        return wait_until(seen, timeout=timeout, what=f"a worker to record {label!r} x{count}")

    def flush(self) -> None:
        """Empty this recorder's whole Redis DB (it is reserved for the suite)."""
        self.client.flushdb()
