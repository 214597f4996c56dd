"""The JSON message that executors reaching outside (webhooks, Lambda) send."""

from __future__ import annotations

import json
from typing import Any

from airlock._intent import Intent
from airlock.integrations.executors._queues import check_arguments

__all__ = ["check_json", "json_body", "payload"]


def payload(intent: Intent, **extra: Any) -> dict[str, Any]:
    """``{"id", "key", "name", "args", "kwargs", **extra}`` for an intent."""
    return {
        "id": intent.id,
        "key": intent.key,
        "name": intent.name,
        "args": list(intent.args),
        "kwargs": dict(intent.kwargs),
        **extra,
    }


def json_body(data: dict[str, Any]) -> bytes:
    """Compact, stable JSON bytes (what gets signed is exactly what is sent)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def check_json(intent: Intent, what: str) -> None:
    """``TypeError`` naming the first argument that is not JSON-serializable (used in prepare)."""
    check_arguments(intent, json.dumps, f"{what}'s JSON payload")
