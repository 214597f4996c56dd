"""``with_retry``: try an executor again after a failure, with exponential backoff and jitter."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airlock._intent import Intent
from airlock.executors._base import Wrapper, describe
from airlock.typing import Executor

__all__ = ["RetryStatistics", "exponential_backoff", "with_retry"]

logger = logging.getLogger("airlock.executors")


def exponential_backoff(
    base: float = 0.1,
    *,
    factor: float = 2.0,
    maximum: float = 30.0,
    jitter: float = 0.1,
    random: Callable[[], float] = random.random,
) -> Callable[[int], float]:
    """Delay before retry ``n`` (1, 2, ...): ``base * factor**(n-1)``, capped at ``maximum``.

    ``jitter`` adds up to that fraction of the delay at random, so many processes that failed
    together do not retry in lockstep. ``jitter=0`` gives an exact schedule.
    """
    if base < 0 or factor < 1 or maximum < 0 or jitter < 0:
        raise ValueError(
            "exponential_backoff needs base >= 0, factor >= 1, maximum >= 0, jitter >= 0"
        )

    def delay(retry: int) -> float:
        seconds = min(maximum, base * factor ** (retry - 1))
        return seconds + seconds * jitter * random()

    return delay


@dataclass
class RetryStatistics:
    """Counters of a ``with_retry`` wrapper (updated under a lock when an intent is done)."""

    attempts: int = 0
    """Calls made to the wrapped executor."""
    retries: int = 0
    """Attempts that were repeats of a failed one."""
    successes: int = 0
    """Intents that went through, possibly after retries."""
    give_ups: int = 0
    """Intents whose last error was re-raised (attempts exhausted or not retryable)."""


class _Retry(Wrapper):
    def __init__(
        self,
        executor: Executor,
        attempts: int,
        backoff: Callable[[int], float],
        retry_on: tuple[type[BaseException], ...],
        sleep: Callable[[float], object],
    ) -> None:
        super().__init__(executor)
        self.attempts = attempts
        self.backoff = backoff
        self.retry_on = retry_on
        self.sleep = sleep
        self.statistics = RetryStatistics()
        self._lock = threading.Lock()

    def _tally(self, attempts: int, ok: bool) -> None:
        with self._lock:
            stats = self.statistics
            stats.attempts += attempts
            stats.retries += attempts - 1
            if ok:
                stats.successes += 1
            else:
                stats.give_ups += 1

    def __call__(self, intent: Intent) -> object:
        attempt = 1
        while True:
            try:
                result = self.inner(intent)
            except self.retry_on as exc:
                if attempt >= self.attempts:
                    self._tally(attempt, ok=False)
                    raise
                delay = self.backoff(attempt)
                logger.warning(
                    "airlock: %s failed for %s (attempt %d of %d: %r); retrying in %.3gs",
                    describe(self.inner),
                    intent,
                    attempt,
                    self.attempts,
                    exc,
                    delay,
                )
                self.sleep(delay)
                attempt += 1
            except BaseException:
                self._tally(attempt, ok=False)
                raise
            else:
                self._tally(attempt, ok=True)
                return result

    def __repr__(self) -> str:
        return f"<with_retry {describe(self.inner)} attempts={self.attempts}>"


def with_retry(
    executor: Executor,
    *,
    attempts: int = 3,
    backoff: float | Callable[[int], float] = 0.1,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], object] = time.sleep,
) -> _Retry:
    """Call ``executor`` up to ``attempts`` times; re-raise the last error when giving up.

    ``backoff`` is the first delay in seconds (doubling each time, with 10% jitter, see
    ``exponential_backoff``) or a function ``retry_number -> seconds``. Only exceptions in
    ``retry_on`` are retried; others propagate at once. ``sleep`` is injectable so tests never
    wait. ``.statistics`` counts attempts, retries, successes and give-ups (thread-safe).

    Retrying ``sync_executor`` runs the task body again: only wrap it around work that is
    safe to repeat. Around a queue executor it retries the *send*, not the task.
    """
    if attempts < 1:
        raise ValueError(f"with_retry needs attempts >= 1, got {attempts!r}")
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    if not retry_on or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in retry_on
    ):
        raise TypeError(f"retry_on must be exception classes, got {retry_on!r}")
    schedule = exponential_backoff(float(backoff)) if isinstance(backoff, (int, float)) else backoff
    return _Retry(executor, attempts, schedule, tuple(retry_on), sleep)
