"""``instrumented``: count and time what an executor does, with success/failure callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airlock._intent import Intent
from airlock.executors._base import Wrapper, describe, guarded
from airlock.executors._unsent import batch_failures
from airlock.typing import Executor

__all__ = ["ExecutorStatistics", "instrumented"]


@dataclass
class ExecutorStatistics:
    """Counts and timings of an ``instrumented`` executor (seconds, from ``clock``)."""

    calls: int = 0
    successes: int = 0
    failures: int = 0
    total_seconds: float = 0.0
    max_seconds: float = 0.0


class _Instrumented(Wrapper):
    def __init__(
        self,
        executor: Executor,
        on_success: Callable[[Intent, float], object] | None,
        on_failure: Callable[[Intent, BaseException, float], object] | None,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(executor)
        self.on_success = on_success
        self.on_failure = on_failure
        self.clock = clock
        self.statistics = ExecutorStatistics()
        self._lock = threading.Lock()

    def _record(self, seconds: float, ok: bool) -> None:
        with self._lock:
            stats = self.statistics
            stats.calls += 1
            stats.successes += ok
            stats.failures += not ok
            stats.total_seconds += seconds
            stats.max_seconds = max(stats.max_seconds, seconds)

    def __call__(self, intent: Intent) -> object:
        start = self.clock()
        try:
            result = self.inner(intent)
        except BaseException as exc:
            seconds = self.clock() - start
            self._record(seconds, ok=False)
            guarded(self.on_failure, "on_failure callback", intent, exc, seconds)
            raise
        seconds = self.clock() - start
        self._record(seconds, ok=True)
        guarded(self.on_success, "on_success callback", intent, seconds)
        return result

    def _send_batch(self, intents: list[Intent]) -> object:
        """One timed ``send_batch``; each intent counts as a call with the batch's time."""
        start = self.clock()
        try:
            result = self.inner.send_batch(intents)  # type: ignore[attr-defined]
        except BaseException as exc:
            seconds = self.clock() - start
            sent, failed, doubt = batch_failures(exc, intents)
            for intent in sent:
                self._record(seconds, ok=True)
                guarded(self.on_success, "on_success callback", intent, seconds)
            for intent, error in [*failed, *((i, exc) for i in doubt)]:
                self._record(seconds, ok=False)
                guarded(self.on_failure, "on_failure callback", intent, error, seconds)
            raise
        seconds = self.clock() - start
        for intent in intents:
            self._record(seconds, ok=True)
            guarded(self.on_success, "on_success callback", intent, seconds)
        return result

    def __repr__(self) -> str:
        s = self.statistics
        return f"<instrumented {describe(self.inner)} calls={s.calls} failures={s.failures}>"


def instrumented(
    executor: Executor,
    *,
    on_success: Callable[[Intent, float], object] | None = None,
    on_failure: Callable[[Intent, BaseException, float], object] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> _Instrumented:
    """Count calls, successes and failures and time each one (``.statistics``, thread-safe).

    ``on_success(intent, seconds)`` and ``on_failure(intent, error, seconds)`` are called after
    each call (e.g. to feed metrics); the error is re-raised after ``on_failure``. A callback
    that raises is logged (logger ``airlock.executors``) and ignored: it never turns a send that
    went into a failure. Around an executor with ``send_batch`` it has one too, timing the
    batch and counting each intent of it.
    """
    return _Instrumented(executor, on_success, on_failure, clock)
