"""What executors that finish work later share (pools, Ray): counting, completion events,
``wait_idle``, ``errors``, ``close`` and the ``with`` block."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from airlock import _events
from airlock._intent import Intent
from airlock.exceptions import UsageError
from airlock.executors._base import check_options, guarded
from airlock.typing import SupportsClose, SupportsPrepare

__all__ = ["PoolStatistics", "Tracked"]

logger = logging.getLogger("airlock.executors")

T = TypeVar("T", bound="Tracked")


@dataclass
class PoolStatistics:
    """Counters of a pool executor; ``in_flight`` = submitted - completed - failed."""

    submitted: int = 0
    completed: int = 0
    failed: int = 0

    @property
    def in_flight(self) -> int:
        """Queued or running right now."""
        return self.submitted - self.completed - self.failed


class Tracked(SupportsPrepare, SupportsClose):
    """Base of the executors whose tasks finish after the flush (thread/process pools, Ray).

    The flush reports an intent ``dispatched`` once it is handed over; the task's own outcome
    arrives later as a completion event (``airlock._events.COMPLETED`` with the result, or
    ``TASK_FAILED`` with the exception; ``testing.capture`` shows both). A failed task is
    logged, counted, kept in ``errors`` and passed to ``on_error``. ``known_options`` are the
    dispatch options the executor takes; any other is refused at enqueue
    (``UnknownOptionError``), as is every intent once the executor is closed.
    """

    kind = "executor"
    what = "pool dispatch"  # names the options in an UnknownOptionError
    known_options: frozenset[str] = frozenset()

    def __init__(self, on_error: Callable[[Intent, BaseException], object] | None) -> None:
        self.on_error = on_error
        self.statistics = PoolStatistics()
        self.errors: collections.deque[tuple[Intent, BaseException]] = collections.deque(maxlen=100)
        """The most recent ``(intent, error)`` pairs of failed tasks (at most 100)."""
        self._idle = threading.Condition()
        self._closed = False

    def check(self, intent: Intent) -> None:
        """Refuse an intent this executor cannot take: it is closed, or an option is unknown."""
        if self._closed:
            raise UsageError(f"{self!r} is closed; it accepts no more intents ({intent} refused)")
        if intent.dispatch_options:
            check_options(str(intent), self.what, intent.dispatch_options, self.known_options)

    def prepare(self, intent: Intent) -> Intent:
        """At enqueue: refused when closed or given an option it does not know."""
        self.check(intent)
        return intent

    def _started(self) -> None:
        with self._idle:
            self.statistics.submitted += 1

    def _not_started(self) -> None:
        with self._idle:
            self.statistics.submitted -= 1
            self._idle.notify_all()

    def _finished(self, intent: Intent, result: Any, error: BaseException | None) -> None:
        # Events and callbacks first: once wait_idle() returns, every outcome was reported.
        if error is None:
            _events.emit(_events.COMPLETED, intent, None, result)
        else:
            logger.error("airlock: %s failed in %r", intent, self, exc_info=error)
            _events.emit(_events.TASK_FAILED, intent, None, error)
            guarded(self.on_error, "on_error callback", intent, error)
        with self._idle:
            if error is None:
                self.statistics.completed += 1
            else:
                self.statistics.failed += 1
                self.errors.append((intent, error))
            self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self.statistics.in_flight == 0, timeout)

    def close(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __enter__(self: T) -> T:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        s = self.statistics
        state = "closed" if self._closed else "open"
        return (
            f"<{self.kind} {state} submitted={s.submitted} completed={s.completed} "
            f"failed={s.failed} in_flight={s.in_flight}>"
        )
