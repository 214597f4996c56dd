"""One intent to many executors (``broadcast``), many intents in one send (``batching``)."""

from __future__ import annotations

import threading

from airlock._intent import Intent
from airlock.exceptions import DispatchError
from airlock.executors._base import (
    Group,
    Wrapper,
    batch_failures,
    call_hooks,
    describe,
    name_unsent,
    only_known,
    send_each,
)
from airlock.typing import Executor

__all__ = ["batching", "broadcast"]


class _Broadcast(Group):
    def __call__(self, intent: Intent) -> None:
        errors: list[tuple[Intent | None, BaseException]] = []
        failed: list[str] = []
        for executor in self.executors:
            try:
                executor(only_known(executor, intent))
            except Exception as exc:
                errors.append((intent, exc))
                failed.append(f"{describe(executor)}: {exc!r}")
        if errors:
            raise DispatchError(
                f"broadcast of {intent}: {len(errors)} of {len(self.executors)} executors "
                f"failed ({'; '.join(failed)})",
                errors,
            ) from errors[0][1]

    def __repr__(self) -> str:
        return f"<broadcast {', '.join(describe(e) for e in self.executors)}>"


def broadcast(*executors: Executor) -> _Broadcast:
    """Send each intent to every executor, in order; all are attempted even if some fail.

    Failures are collected into one ``airlock.DispatchError`` (``errors``: ``(intent, error)``
    pairs, the message names each failing executor), raised after the last executor ran.
    """
    if not executors:
        raise TypeError("broadcast() needs at least one executor")
    return _Broadcast(executors, "broadcast")


class _Batching(Wrapper):
    batch_capable = False  # it makes the batches: batching(batching(x)) is not a thing

    def __init__(self, executor: Executor, size: int) -> None:
        super().__init__(executor)
        self.size = size
        self._pending: list[Intent] = []
        self._lock = threading.Lock()  # guards _pending
        self._send_lock = threading.Lock()  # one send at a time keeps order
        self.batches_sent = 0
        self._went: list[Intent] = []  # sent since the last after_flush (guarded by _send_lock)

    @property
    def pending(self) -> list[Intent]:
        """Intents collected and not yet sent."""
        with self._lock:
            return list(self._pending)

    def __call__(self, intent: Intent) -> None:
        with self._lock:
            self._pending.append(intent)
            full = len(self._pending) >= self.size
        if full:
            self.send()

    def send(self) -> None:
        """Send everything pending, ``size`` at a time, in order.

        Nothing stays pending: on a failure the ``DispatchError`` raised names the intents that
        failed and those never sent (each of them is ``failed``; none is kept for later). The
        intents of the failed batch that went (its ``send_batch`` said so) are not named.
        """
        with self._send_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            for start in range(0, len(pending), self.size):
                batch = pending[start : start + self.size]
                try:
                    send_each(self.inner, batch)
                except Exception as error:
                    _, failed, doubt = batch_failures(error, batch)
                    later = pending[start + self.size :]
                    not_sent = {i.id for i in getattr(error, "unsent", ())}
                    unsent = [i for i in batch if i.id in not_sent] + later
                    errors = [*failed, *((i, error) for i in doubt), *((i, error) for i in later)]
                    raise DispatchError(
                        f"{self!r}: sending a batch of {len(batch)} failed "
                        f"({type(error).__name__}: {error}); {len(unsent)} more not sent",
                        errors,
                        unsent=unsent,
                    ) from error
                except BaseException as error:  # an interrupt: it goes on, naming the unsent
                    later = pending[start + self.size :]
                    name_unsent(error, (), batch, later, owner=self, went=self._went)
                    raise
                self.batches_sent += 1
                self._went += batch

    def after_flush(self) -> None:
        """Send the partial batch, then forward ``after_flush``."""
        try:
            self.send()
        finally:
            self._forget_went()
            call_hooks([self.inner], "after_flush")

    def close(self) -> None:
        """Send what is left, then forward ``close``."""
        try:
            self.send()
        finally:
            self._forget_went()
            call_hooks([self.inner], "close")

    def _forget_went(self) -> None:
        with self._send_lock:
            self._went = []

    def __repr__(self) -> str:
        return f"<batching {describe(self.inner)} size={self.size} pending={len(self._pending)}>"


def batching(executor: Executor, *, size: int = 100) -> _Batching:
    """Collect intents and send them ``size`` at a time; the rest goes in ``after_flush``.

    A batch goes to ``executor.send_batch(intents)`` when the executor has that method (one
    round trip for many messages), else to ``executor(intent)`` one by one. ``after_flush()``
    (once per scope flush) and ``close()`` send the partial batch, so nothing is held past its
    flush. A failed send raises ``DispatchError`` naming the intents that failed or were never
    sent (their fate is ``failed``; nothing is kept to be sent twice). Thread-safe; order kept.
    Wrappers inside it (``with_retry``, ``with_fallback``, ``route``, ``instrumented``,
    ``with_circuit_breaker``, ``with_rate_limit``) forward ``send_batch``, so batches stay
    whole; a batch error naming intents (``BatchDispatchError``) fails only those.
    """
    if size < 1:
        raise ValueError(f"batching needs size >= 1, got {size!r}")
    return _Batching(executor, size)
