"""Module-level tasks for the pool tests (a process pool needs importable functions)."""

from __future__ import annotations

import os
from pathlib import Path

import airlock


def append_line(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(f"{text}\n")


def append_pid(path: str) -> None:
    append_line(path, str(os.getpid()))


def fail(message: str) -> None:
    raise ValueError(message)


def enqueue_follow_up(path: str) -> None:
    """A task that enqueues: it works because the pool runs it inside a fresh scope."""
    airlock.enqueue(append_line, path, "follow-up")
    append_line(path, "parent")


def lines(path: str | Path) -> list[str]:
    p = Path(path)
    return p.read_text().splitlines() if p.exists() else []


def add(a: int, b: int) -> int:
    return a + b
