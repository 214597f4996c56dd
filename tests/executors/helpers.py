"""Real little executors and thread helpers shared by the executor tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from airlock import Intent


class Recorder:
    """A real executor that records what it received, and can be told to fail."""

    def __init__(self, name: str = "recorder", fail: int | Callable[[Intent], bool] = 0) -> None:
        self.__name__ = name
        self.received: list[Intent] = []
        self.fail = fail
        self.calls = 0
        self.events: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, intent: Intent) -> None:
        with self._lock:
            self.calls += 1
            calls = self.calls
        failing = self.fail(intent) if callable(self.fail) else calls <= self.fail
        if failing:
            raise ConnectionError(f"{self.__name__} is down (call {calls})")
        with self._lock:
            self.received.append(intent)

    def prepare(self, intent: Intent) -> Intent:
        self.events.append(f"prepare {intent.name} {sorted(intent.dispatch_options)}")
        return intent.replace(
            dispatch_options={**intent.dispatch_options, f"{self.__name__}_ok": 1}
        )

    def after_flush(self) -> None:
        self.events.append("after_flush")

    def close(self) -> None:
        self.events.append("close")


def run_threads(n: int, target: Callable[[int], Any]) -> list[BaseException]:
    """Run ``target(i)`` in ``n`` threads started together; return the errors they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def noop(*args: Any, **kwargs: Any) -> None:
    pass


def intent(name: str = "noop", **options: Any) -> Intent:
    return Intent(task=noop, name=name, dispatch_options=options)
