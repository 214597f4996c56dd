"""Tasks the Ray workers import (module-level, so they pickle by reference)."""

from __future__ import annotations

import os
from pathlib import Path

import airlock


def write(path: str, text: str) -> str:
    Path(path).write_text(f"{text} pid={os.getpid()}")
    return text


def add(a: int, b: int) -> int:
    return a + b


def fail(message: str) -> None:
    raise ValueError(message)


def with_follow_up(path: str) -> None:
    """Enqueues from inside the Ray task: works because the task runs in a fresh scope."""
    airlock.enqueue(write, path, "follow-up")


def cpus() -> float:
    import ray

    return float(ray.get_runtime_context().get_assigned_resources().get("CPU", 0.0))
