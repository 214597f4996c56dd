"""Thread and process pools as executors: bounded, observable, drained on close and at exit."""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import multiprocessing
import multiprocessing.context
import os
import pickle
import threading
from collections.abc import Callable
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import DispatchError, UsageError
from airlock.executors._tracking import PoolStatistics, Tracked
from airlock.integrations.executors.sync import sync_executor

__all__ = ["PoolStatistics", "process_pool_executor", "thread_pool_executor"]

logger = logging.getLogger("airlock.executors")


class _Pool(Tracked):
    kind = "pool"

    def __init__(
        self,
        pool: concurrent.futures.Executor,
        capacity: int,
        timeout: float | None,
        on_error: Callable[[Intent, BaseException], object] | None,
    ) -> None:
        super().__init__(on_error)
        self._pool = pool
        self._slots = threading.BoundedSemaphore(capacity)
        self._pid = os.getpid()
        self.capacity = capacity
        self.timeout = timeout
        atexit.register(self._drain_at_exit)

    def _submit(self, intent: Intent) -> concurrent.futures.Future[Any]:
        return self._pool.submit(sync_executor, intent)

    def __call__(self, intent: Intent) -> concurrent.futures.Future[Any]:
        """Queue the task; blocks while the queue is full (``timeout``, then DispatchError).

        The future carries the task's result (or its exception).
        """
        if os.getpid() != self._pid:
            raise UsageError(
                f"{self!r} belongs to process {self._pid}; it cannot take {intent} in process "
                f"{os.getpid()} (a forked child). Configure the executor the worker uses there."
            )
        self.check(intent)
        if not self._slots.acquire(timeout=self.timeout):
            raise DispatchError(
                f"{self!r}: queue full ({self.capacity} queued or running) for {self.timeout}s; "
                f"{intent} was not queued. Raise max_workers/queue_size or slow the producer.",
                [(intent, TimeoutError("pool queue full"))],
            )
        self._started()
        try:
            future = self._submit(intent)
        except BaseException:
            self._slots.release()
            self._not_started()
            raise
        future.add_done_callback(lambda f: self._done(intent, f))
        return future

    def _done(self, intent: Intent, future: concurrent.futures.Future[Any]) -> None:
        self._slots.release()
        if future.cancelled():
            self._finished(intent, None, RuntimeError("cancelled"))
        elif future.exception() is not None:
            self._finished(intent, None, future.exception())
        else:
            self._finished(intent, future.result(), None)

    def close(self) -> None:
        """Stop accepting intents, run everything already queued, and wait for it (drain)."""
        self._closed = True
        if os.getpid() == self._pid:
            self._pool.shutdown(wait=True)
        atexit.unregister(self._drain_at_exit)

    def _drain_at_exit(self) -> None:
        if os.getpid() != self._pid:  # a forked child exiting: the pool is not its own
            return
        pending = self.statistics.in_flight
        if pending:
            logger.warning("airlock: draining %d queued task(s) of %r at exit", pending, self)
        self.close()


class _ThreadPool(_Pool):
    kind = "thread_pool_executor"


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


class _ProcessPool(_Pool):
    kind = "process_pool_executor"

    def prepare(self, intent: Intent) -> Intent:
        """At enqueue: refused when closed or given an option; the task and its arguments
        must pickle."""
        self.check(intent)
        _check_pickles(intent)
        return intent


def _capacity(max_workers: int, queue_size: int) -> int:
    if max_workers < 1 or queue_size < 0:
        raise ValueError(
            f"need max_workers >= 1 and queue_size >= 0, got {max_workers}, {queue_size}"
        )
    return max_workers + queue_size


def default_mp_context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where the platform has it, else ``spawn``: never ``fork``.

    A forked worker inherits the parent's locks as they were at the fork, including ones other
    threads held (the pool's own, logging's): a task that then enqueues a follow-up, or logs,
    can deadlock. Workers started by forkserver or spawn import what they need afresh.
    """
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


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
    The future a call returns carries the task's result. A failing task is logged (logger
    ``airlock.executors``), counted, kept in ``.errors``, passed to ``on_error(intent, error)``
    (an ``on_error`` that raises is logged) and reported as a ``task_failed`` completion event;
    a task that returns, as ``completed`` with its result. ``.statistics``: submitted,
    completed, failed, in_flight. Takes no dispatch options (any is an ``UnknownOptionError``
    at enqueue). ``close()`` (or leaving ``with thread_pool_executor() as pool:``) drains the
    queue and refuses more; an ``atexit`` hook drains it at shutdown.
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
    the task and every argument pickle, naming the one that does not. Workers start with the
    ``forkserver`` method (``spawn`` where there is none), never ``fork``, so they inherit no
    lock held at the time: tasks must be importable (module-level functions in a module, not
    ``__main__`` code run by ``python -c``), and a worker begins with airlock's default
    configuration (its follow-ups run with ``sync_executor``): configure airlock in the task's
    module (or Django settings) for anything else. ``mp_context`` overrides the start method;
    with ``fork``, a worker calling an inherited pool gets a ``UsageError`` instead of a hang.
    """
    capacity = _capacity(max_workers, queue_size)
    context = mp_context if mp_context is not None else default_mp_context()
    pool = concurrent.futures.ProcessPoolExecutor(max_workers, mp_context=context)
    return _ProcessPool(pool, capacity, timeout, on_error)
