"""Protecting a backend: ``with_rate_limit`` (token bucket) and ``with_circuit_breaker``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import CircuitOpenError
from airlock.executors._base import Wrapper, describe, guarded
from airlock.typing import Executor

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "CircuitOpenError",
    "with_circuit_breaker",
    "with_rate_limit",
]

logger = logging.getLogger("airlock.executors")


class _RateLimit(Wrapper):
    def __init__(
        self,
        executor: Executor,
        per_second: float,
        burst: float,
        clock: Callable[[], float],
        sleep: Callable[[float], object],
    ) -> None:
        super().__init__(executor)
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tokens = burst
        self._updated = clock()

    def reserve(self, tokens: int = 1) -> float:
        """Take ``tokens`` tokens, and return how long the caller must wait before using them.

        Tokens may go negative: each caller reserves its own slot under the lock and waits
        outside it, so concurrent callers are spaced ``1/per_second`` apart, first come first.
        """
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
            self._updated = now
            self._tokens -= tokens
            return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second

    def __call__(self, intent: Intent) -> object:
        wait = self.reserve()
        if wait > 0:
            self.sleep(wait)
        return self.inner(intent)

    def _send_batch(self, intents: list[Intent]) -> object:
        """A batch takes one token per intent."""
        wait = self.reserve(len(intents))
        if wait > 0:
            self.sleep(wait)
        return self.inner.send_batch(intents)  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<with_rate_limit {describe(self.inner)} per_second={self.per_second}>"


def with_rate_limit(
    executor: Executor,
    *,
    per_second: float,
    burst: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> _RateLimit:
    """Pass at most ``per_second`` intents per second to ``executor`` (thread-safe token bucket).

    Up to ``burst`` (default: ``max(1, per_second)``) go through at once after a quiet period;
    beyond that, callers block (``sleep``) until their turn. The flush therefore slows down
    rather than fails. ``clock`` and ``sleep`` are injectable for tests.
    """
    if not per_second > 0:
        raise ValueError(f"with_rate_limit needs per_second > 0, got {per_second!r}")
    burst = max(1.0, float(per_second)) if burst is None else float(burst)
    if burst < 1:
        raise ValueError(f"with_rate_limit needs burst >= 1, got {burst!r}")
    return _RateLimit(executor, float(per_second), burst, clock, sleep)


CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class _CircuitBreaker(Wrapper):
    def __init__(
        self,
        executor: Executor,
        failures: int,
        reset_after: float,
        on_state_change: Callable[[str, str], object] | None,
        failure_on: tuple[type[BaseException], ...],
        clock: Callable[[], float],
    ) -> None:
        super().__init__(executor)
        self.failures = failures
        self.reset_after = reset_after
        self.on_state_change = on_state_change
        self.failure_on = failure_on
        self.clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive = 0
        self._opened_at = 0.0
        self._trial_running = False

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"`` (an open breaker past ``reset_after``)."""
        with self._lock:
            if self._state == OPEN and self.clock() - self._opened_at >= self.reset_after:
                return HALF_OPEN
            return self._state

    def _move(self, new: str) -> tuple[str, str] | None:
        # Called under the lock; the listener is called after it is released.
        old, self._state = self._state, new
        if new == OPEN:
            self._opened_at = self.clock()
        return (old, new) if old != new else None

    def _announce(self, change: tuple[str, str] | None) -> None:
        if change is None:
            return
        logger.warning(
            "airlock: circuit for %s is now %s (was %s)", describe(self.inner), change[1], change[0]
        )
        guarded(self.on_state_change, "on_state_change listener", *change)

    def _admit(self, intents: list[Intent]) -> tuple[bool, tuple[str, str] | None]:
        """Whether this call (of one intent or a batch) may go through, and whether it is the
        half-open trial."""
        intent = intents[0]
        what = str(intent) if len(intents) == 1 else f"a batch of {len(intents)} ({intent}, ...)"
        if self._state is CLOSED:  # the common case needs no lock: a stale read only delays
            return False, None
        with self._lock:
            if self._state == CLOSED:
                return False, None
            if self._state == OPEN:
                waited = self.clock() - self._opened_at
                if waited < self.reset_after:
                    raise CircuitOpenError(
                        f"circuit for {describe(self.inner)} is open after {self._consecutive} "
                        f"consecutive failures; {what} was not sent. It will try again in "
                        f"{self.reset_after - waited:.3g}s",
                        [(i, RuntimeError("circuit open")) for i in intents],
                        unsent=intents,
                    )
                change = self._move(HALF_OPEN)
            else:
                change = None
            if self._trial_running:
                raise CircuitOpenError(
                    f"circuit for {describe(self.inner)} is half-open and a trial call is "
                    f"running; {what} was not sent",
                    [(i, RuntimeError("circuit half-open")) for i in intents],
                    unsent=intents,
                )
            self._trial_running = True
            return True, change

    def __call__(self, intent: Intent) -> object:
        return self._through([intent], self.inner, intent)

    def _send_batch(self, intents: list[Intent]) -> object:
        """A batch is one call: admitted (or refused) as a unit, counted as one failure."""
        if not intents:
            return None
        return self._through(intents, self.inner.send_batch, intents)  # type: ignore[attr-defined]

    def _through(self, intents: list[Intent], send: Callable[[Any], object], what: Any) -> object:
        trial, change = self._admit(intents)
        try:
            self._announce(change)
            result = send(what)
        except BaseException as exc:
            counts = isinstance(exc, self.failure_on)
            with self._lock:
                change = None
                if trial:
                    self._trial_running = False
                if counts:
                    self._consecutive += 1
                    if trial or (self._state == CLOSED and self._consecutive >= self.failures):
                        change = self._move(OPEN)
            self._announce(change)
            raise
        if trial or self._consecutive:
            with self._lock:
                change = None
                if trial:
                    self._trial_running = False
                    change = self._move(CLOSED)
                if self._state == CLOSED:
                    self._consecutive = 0
            self._announce(change)
        return result

    def __repr__(self) -> str:
        return f"<with_circuit_breaker {describe(self.inner)} {self.state}>"


def with_circuit_breaker(
    executor: Executor,
    *,
    failures: int = 5,
    reset_after: float = 30.0,
    on_state_change: Callable[[str, str], object] | None = None,
    failure_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    clock: Callable[[], float] = time.monotonic,
) -> _CircuitBreaker:
    """Stop calling a failing executor for a while, then let one trial call through.

    Closed: calls pass; ``failures`` consecutive errors (of ``failure_on``) open the circuit.
    Open: every call fails fast with ``CircuitOpenError`` (a ``DispatchError``) without touching
    the executor. After ``reset_after`` seconds it is half-open: one trial call goes through
    (others still fail fast); success closes the circuit, failure opens it again.
    ``on_state_change(old, new)`` is called on each transition (a listener that raises is
    logged and ignored: it never changes the state or wedges the breaker); ``.state`` reads
    the state. Around an executor with ``send_batch`` a batch is one call.
    Combine with ``with_fallback`` to send elsewhere while the circuit is open.
    """
    if failures < 1:
        raise ValueError(f"with_circuit_breaker needs failures >= 1, got {failures!r}")
    if reset_after < 0:
        raise ValueError(f"with_circuit_breaker needs reset_after >= 0, got {reset_after!r}")
    if isinstance(failure_on, type):
        failure_on = (failure_on,)
    return _CircuitBreaker(
        executor, failures, reset_after, on_state_change, tuple(failure_on), clock
    )
