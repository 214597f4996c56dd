"""A recording executor for the web suites, on airlock's defaults (no DjangoScope)."""

from __future__ import annotations

import threading
import time

import pytest

import airlock


def task(note: str) -> None:
    """The task enqueued by the views (the executor records it; it never runs)."""


class Sent:
    """An executor: records each intent's first argument, and the thread it ran in."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.threads: list[int] = []
        self.arrived = threading.Condition()

    def __call__(self, intent: airlock.Intent) -> None:
        with self.arrived:
            self.notes.append(intent.args[0])
            self.threads.append(threading.get_ident())
            self.arrived.notify_all()

    def wait_for(self, note: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while note not in self.notes:
                left = deadline - time.monotonic()
                assert left > 0, f"{note!r} was not dispatched within {timeout}s: {self.notes}"
                self.arrived.wait(left)


@pytest.fixture
def sent(fresh_configuration: None) -> Sent:
    recorder = Sent()
    airlock.configure(executor=recorder)
    return recorder
