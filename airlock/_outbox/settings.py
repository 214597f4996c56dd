"""The knobs every outbox has: which intents are durable, how the relay retries and batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["OutboxSettings"]


@dataclass(frozen=True)
class OutboxSettings:
    """An outbox's settings, defaults filled in (Django reads them from ``AIRLOCK["OUTBOX"]``,
    the SQLAlchemy outbox from its ``Outbox(...)`` arguments)."""

    durable: bool | frozenset[str]
    tasks: tuple[str, ...]
    executor: Any
    celery_app: str | None
    database: str | None
    grace: float
    undecided: str
    max_attempts: int
    backoff: float
    max_backoff: float
    batch_size: int
    interval: float
