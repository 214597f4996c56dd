"""Thread and process pools as executors: bounded, observable, drained on close and at exit."""

from __future__ import annotations

import atexit
import collections
import concurrent.futures
import logging
import multiprocessing.context
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import DispatchError, UsageError
from airlock.integrations.executors.sync import sync_executor
from airlock.typing import SupportsClose, SupportsPrepare

__all__ = ["PoolStatistics", "process_pool_executor", "thread_pool_executor"]

logger = logging.getLogger("airlock.executors")


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


class _Pool(SupportsClose):
    kind = "pool"

    def __init__(
        self,
        pool: concurrent.futures.Executor,
        capacity: int,
        timeout: float | None,
        on_error: Callable[[Intent, BaseException], object] | None,
    ) -> None:
        self._pool = pool
        self._slots = threading.BoundedSemaphore(capacity)
        self.capacity = capacity
        self.timeout = timeout
        self.on_error = on_error
        self.statistics = PoolStatistics()
        self.errors: collections.deque[tuple[Intent, BaseException]] = collections.deque(maxlen=100)
        """The most recent ``(intent, error)`` pairs of failed tasks (at most 100)."""
        self._idle = threading.Condition()
        self._closed = False
        atexit.register(self._drain_at_exit)

    def _submit(self, intent: Intent) -> concurrent.futures.Future[Any]:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, intent: Intent) -> concurrent.futures.Future[Any]:
        """Queue the task; blocks while the queue is full (``timeout``, then DispatchError)."""
        if self._closed:
            raise UsageError(f"{self!r} is closed; it accepts no more intents ({intent} refused)")
        if not self._slots.acquire(timeout=self.timeout):
            raise DispatchError(
                f"{self!r}: queue full ({self.capacity} queued or running) for {self.timeout}s; "
                f"{intent} was not queued. Raise max_workers/queue_size or slow the producer.",
                [(intent, TimeoutError("pool queue full"))],
            )
        with self._idle:
            self.statistics.submitted += 1
        try:
            future = self._submit(intent)
        except BaseException:
            self._slots.release()
            with self._idle:
                self.statistics.submitted -= 1
            raise
        future.add_done_callback(lambda f: self._done(intent, f))
        return future

    def _done(self, intent: Intent, future: concurrent.futures.Future[Any]) -> None:
        self._slots.release()
        error = future.exception() if not future.cancelled() else RuntimeError("cancelled")
        with self._idle:
            if error is None:
                self.statistics.completed += 1
            else:
                self.statistics.failed += 1
                self.errors.append((intent, error))
            self._idle.notify_all()
        if error is not None:
            logger.error("airlock: %s failed in %r", intent, self, exc_info=error)
            if self.on_error is not None:
                try:
                    self.on_error(intent, error)
                except Exception:
                    logger.exception("airlock: on_error callback of %r failed", self)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or running; False if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self.statistics.in_flight == 0, timeout)

    def close(self) -> None:
        """Stop accepting intents, run everything already queued, and wait for it (drain)."""
        self._closed = True
        self._pool.shutdown(wait=True)
        atexit.unregister(self._drain_at_exit)

    def _drain_at_exit(self) -> None:
        pending = self.statistics.in_flight
        if pending:
            logger.warning("airlock: draining %d queued task(s) of %r at exit", pending, self)
        self.close()

    def __repr__(self) -> str:
        s = self.statistics
        state = "closed" if self._closed else "open"
        return (
            f"<{self.kind} {state} submitted={s.submitted} completed={s.completed} "
            f"failed={s.failed} in_flight={s.in_flight}>"
        )


class _ThreadPool(_Pool):
    kind = "thread_pool_executor"

    def _submit(self, intent: Intent) -> concurrent.futures.Future[Any]:
        return self._pool.submit(sync_executor, intent)


def _check_pickles(intent: Intent) -> None:
    parts: list[tuple[str, Any]] = [("task", intent.task)]
    parts += [(f"argument {i}", a) for i, a in enumerate(intent.args)]
    parts += [(f"keyword argument {k!r}", v) for k, v in intent.kwargs.items()]
    for what, value in parts:
        try:
            pickle.dumps(value)
        except Exception as exc:
            raise TypeError(
                f"process_pool_executor cannot send {intent}: its {what} ({type(value).__name__}) "
                f"does not pickle ({exc}). Pass plain data (ids, strings, numbers) and use a "
                "module-level function as the task."
            ) from exc


class _ProcessPool(_Pool, SupportsPrepare):
    kind = "process_pool_executor"

    def prepare(self, intent: Intent) -> Intent:
        """Check at enqueue time that the task and its arguments pickle."""
        _check_pickles(intent)
        return intent

    def _submit(self, intent: Intent) -> concurrent.futures.Future[Any]:
        return self._pool.submit(sync_executor, intent)


def _capacity(max_workers: int, queue_size: int) -> int:
    if max_workers < 1 or queue_size < 0:
        raise ValueError(
            f"need max_workers >= 1 and queue_size >= 0, got {max_workers}, {queue_size}"
        )
    return max_workers + queue_size


def thread_pool_executor(
    max_workers: int = 4,
    *,
    queue_size: int = 1000,
    timeout: float | None = None,
    on_error: Callable[[Intent, BaseException], object] | None = None,
    thread_name_prefix: str = "airlock",
) -> _ThreadPool:
    """Run each task in a pool thread, inside a fresh scope (like ``sync_executor``).

    At most ``max_workers + queue_size`` tasks are queued or running; a call beyond that blocks
    up to ``timeout`` seconds (``None``: until a slot frees), then raises ``DispatchError``.
    A failing task is logged (logger ``airlock.executors``), counted, kept in ``.errors`` and
    passed to ``on_error(intent, error)``. ``.statistics``: submitted, completed, failed,
    in_flight. ``close()`` drains the queue; an ``atexit`` hook does the same at shutdown.
    """
    capacity = _capacity(max_workers, queue_size)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix)
    return _ThreadPool(pool, capacity, timeout, on_error)


def process_pool_executor(
    max_workers: int = 2,
    *,
    queue_size: int = 1000,
    timeout: float | None = None,
    on_error: Callable[[Intent, BaseException], object] | None = None,
    mp_context: multiprocessing.context.BaseContext | None = None,
) -> _ProcessPool:
    """Run each task in a worker process, inside a fresh scope there.

    Same contract as ``thread_pool_executor``, plus: ``prepare`` checks at enqueue time that
    the task and every argument pickle, naming the one that does not. Tasks must be
    module-level functions. Under the ``spawn``/``forkserver`` start methods (``mp_context``)
    workers begin with airlock's default configuration: configure it in the task's module.
    """
    capacity = _capacity(max_workers, queue_size)
    pool = concurrent.futures.ProcessPoolExecutor(max_workers, mp_context=mp_context)
    return _ProcessPool(pool, capacity, timeout, on_error)
