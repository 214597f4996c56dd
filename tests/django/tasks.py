"""Tasks and executors the Django tests enqueue and dispatch with."""

from __future__ import annotations

import threading

from airlock import Intent

RAN: list[str] = []
_lock = threading.Lock()


def record(label: str) -> None:
    """A task: remember that it ran."""
    with _lock:
        RAN.append(label)


def explode(label: str) -> None:
    """A task that always fails."""
    raise RuntimeError(f"task {label} exploded")


class Recorder:
    """An executor that records what it was handed instead of running it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.batches = 0

    def __call__(self, intent: Intent) -> None:
        if intent.task is explode:
            explode(*intent.args)
        self.sent.append(intent.args[0] if intent.args else intent.name)

    def after_flush(self) -> None:
        self.batches += 1
