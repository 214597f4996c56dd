"""One intent to many executors (``broadcast``), many intents in one send (``batching``)."""

from __future__ import annotations

import threading
from contextvars import ContextVar

from airlock._dispatch import current_flush, held, holding
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError
from airlock.executors._base import (
    Group,
    Wrapper,
    buffers,
    describe,
    only_known,
    refuse_shared_holder,
    send_each,
)
from airlock.executors._unsent import (
    Hook,
    batch_failures,
    call_hooks,
    fails_all,
    finish_hooks,
    joined,
    name_unsent,
)
from airlock.typing import Executor

__all__ = ["batching", "broadcast"]


class _Sent:
    """What a ``broadcast`` holds for one flush: the intents it took, and what batches sent
    from its calls said of other intents (its ``after_flush`` raises that)."""

    __slots__ = ("later", "took")

    def __init__(self) -> None:
        self.took: dict[str, Intent] = {}
        self.later: list[BaseException] = []


class _Broadcast(Group):
    def __init__(self, executors: tuple[Executor, ...], what: str) -> None:
        super().__init__(executors, what)
        self._flush: ContextVar[_Sent | None] = ContextVar(
            f"airlock_broadcast_{id(self):x}", default=None
        )

    def __call__(self, intent: Intent) -> None:
        errors: list[tuple[Intent | None, BaseException]] = []
        doubt: list[Intent] = []
        failed: list[str] = []
        for executor in self.executors:
            try:
                executor(only_known(executor, intent))
            except Exception as exc:
                failed.append(f"{describe(executor)}: {exc!r}")
                if fails_all(exc):
                    errors.append((intent, exc))
                else:  # a batch went from this call (a batching): what it names failed
                    errors += exc.errors  # type: ignore[attr-defined]
                    doubt += getattr(exc, "in_doubt", ())
            except BaseException as interrupt:  # what the members before it said still stands
                if errors:
                    joined(interrupt, BatchDispatchError("broadcast", errors=errors))
                raise
        flush = current_flush()
        if errors:
            error = BatchDispatchError(
                f"broadcast of {intent}: {len(failed)} of {len(self.executors)} executors "
                f"failed ({'; '.join(failed)})",
                in_doubt=doubt,
                errors=errors,
            )
            error.__cause__ = errors[0][1]
            if flush is None or any(i is not None and i.id == intent.id for i, _ in errors):
                raise error
        if flush is None:
            return
        sent: _Sent = holding(self, self._flush, _Sent)
        if errors:
            # Only others' intents failed (a batch sent from this call): this one is taken,
            # and may still be held by a member; after_flush reports the rest.
            sent.later.append(error)
        sent.took[intent.id] = intent

    def after_flush(self) -> None:
        """Forwarded to every executor; also raises what a batch sent in a call said of
        other intents."""
        self._finish("after_flush")

    def close(self) -> None:
        """As ``after_flush``, with each executor's ``close``."""
        self._finish("close")

    def _finish(self, hook: Hook) -> None:
        sent: _Sent = held(self, self._flush, take=True) or _Sent()
        finish_hooks(  # on an interrupt, what every member took went
            self, self.executors, hook,
            held_by=lambda executor: sent.took.values(),  # each member got every intent
            took=sent.took.keys(),
            later=sent.later,
        )

    def __repr__(self) -> str:
        return f"<broadcast {', '.join(describe(e) for e in self.executors)}>"


def broadcast(*executors: Executor) -> _Broadcast:
    """Send each intent to every executor, in order; all are attempted even if some fail.

    Failures are collected into one ``airlock.DispatchError`` (``errors``: ``(intent, error)``
    pairs, the message names each failing executor), raised after the last executor ran.
    """
    if not executors:
        raise TypeError("broadcast() needs at least one executor")
    refuse_shared_holder(executors, "broadcast", "members", "each intent would go to it twice")
    return _Broadcast(executors, "broadcast")


class _Held:
    """What a ``batching`` executor holds for one flush: intents not sent yet, and those sent
    since the flush began (an interrupt's note speaks for them too)."""

    __slots__ = ("pending", "went")

    def __init__(self) -> None:
        self.pending: list[Intent] = []
        self.went: list[Intent] = []


class _Batching(Wrapper):
    """Holds intents per flush (``_dispatch.current_flush``): a flush sends its own and learns
    what became of each. Shared across threads, or with a flush nested in it, one flush's
    failing send took another's intents, which that one then reported dispatched. Calls made
    outside any flush (a thread of the user's own) are held for whichever flush sends next,
    and for ``close()``."""

    batch_capable = False  # it makes the batches: batching(batching(x)) is not a thing
    buffers = True  # what it holds goes out in after_flush

    def __init__(self, executor: Executor, size: int) -> None:
        super().__init__(executor)
        self.size = size
        self._outside = _Held()  # calls made outside any flush
        self._lock = threading.Lock()  # guards what is held and batches_sent
        self._send_lock = threading.RLock()  # one send at a time; a nested flush re-enters
        self.batches_sent = 0

    def _held(self, create: bool) -> _Held | None:
        flush = current_flush()
        if flush is None:
            return self._outside
        return flush.of(self, _Held if create else None)

    @property
    def pending(self) -> list[Intent]:
        """Intents collected (in this flush, or outside any) and not yet sent."""
        kept = self._held(create=False)
        with self._lock:
            mine = kept.pending if kept is not None and kept is not self._outside else []
            return [*self._outside.pending, *mine]

    def __call__(self, intent: Intent) -> None:
        kept = self._held(create=True)
        assert kept is not None
        with self._lock:
            kept.pending.append(intent)
            full = len(kept.pending) >= self.size
        if full:
            self.send()

    def send(self) -> None:
        """Send everything pending (this flush's, and what came outside any), ``size`` at a
        time, in order.

        Nothing stays pending: on a failure the ``DispatchError`` raised names the intents that
        failed and those never sent (each of them is ``failed``; none is kept for later). The
        intents of the failed batch that went (its ``send_batch`` said so) are not named.
        """
        with self._send_lock:
            kept = self._held(create=False) or self._outside
            with self._lock:
                pending, self._outside.pending = self._outside.pending, []
                if kept is not self._outside:
                    pending, kept.pending = pending + kept.pending, []
            for start in range(0, len(pending), self.size):
                batch = pending[start : start + self.size]
                try:
                    send_each(self.inner, batch)
                except Exception as error:
                    went, failed, doubt = batch_failures(error, batch)
                    kept.went += went  # an interrupt's note in this flush speaks for them
                    later = pending[start + self.size :]
                    not_sent = {i.id for i in getattr(error, "unsent", ())}
                    unsent = [i for i in batch if i.id in not_sent] + later
                    errors = [*failed, *((i, error) for i in doubt), *((i, error) for i in later)]
                    raise BatchDispatchError(
                        f"{self!r}: sending a batch of {len(batch)} failed "
                        f"({type(error).__name__}: {error}); {len(unsent)} more not sent",
                        sent=[*pending[:start], *went],
                        unsent=unsent,
                        in_doubt=doubt,
                        errors=errors,
                    ) from error
                except BaseException as error:  # an interrupt: it goes on, naming the unsent
                    later = pending[start + self.size :]
                    name_unsent(error, (), batch, later, owner=self, went=kept.went)
                    raise
                with self._lock:
                    self.batches_sent += 1
                kept.went += batch

    def after_flush(self) -> None:
        """Send the partial batch, then forward ``after_flush``."""
        self._finish("after_flush")

    def close(self) -> None:
        """Send what is left, then forward ``close``."""
        self._finish("close")

    def _finish(self, hook: Hook) -> None:
        # Send, then the hook; an error of the hook (a wrapped with_fallback reporting what no
        # executor took) joins the send's instead of hiding it.
        error: BaseException | None = None
        try:
            self.send()
        except BaseException as exc:
            error = exc
        finally:
            self._let_go()
        try:
            call_hooks([self.inner], hook)
        except BaseException as later:
            if error is None:
                raise
            raise joined(error, later) from error
        if error is not None:
            raise error

    def _let_go(self) -> None:
        flush = current_flush()
        if flush is not None:
            flush.held.pop(id(self), None)
        with self._lock:
            self._outside.went = []

    def __repr__(self) -> str:
        return f"<batching {describe(self.inner)} size={self.size} pending={len(self.pending)}>"


def batching(executor: Executor, *, size: int = 100) -> _Batching:
    """Collect intents and send them ``size`` at a time; the rest goes in ``after_flush``.

    A batch goes to ``executor.send_batch(intents)`` when the executor has that method (one
    round trip for many messages), else to ``executor(intent)`` one by one. ``after_flush()``
    (once per scope flush) and ``close()`` send the partial batch, so nothing is held past its
    flush. A failed send raises ``DispatchError`` naming the intents that failed or were never
    sent (their fate is ``failed``; nothing is kept to be sent twice). Thread-safe; order kept.
    Wrappers inside it (``with_retry``, ``with_fallback``, ``route``, ``instrumented``,
    ``with_circuit_breaker``, ``with_rate_limit``) forward ``send_batch``, so batches stay
    whole; a batch error naming intents (``BatchDispatchError``) fails only those. Around an
    executor that already holds intents until ``after_flush`` (its ``buffers`` is true: a
    ``batching()``, a batched executor, a wrapper with one inside): ``TypeError``.
    """
    if size < 1:
        raise ValueError(f"batching needs size >= 1, got {size!r}")
    if buffers(executor):
        raise TypeError(
            f"batching() cannot wrap {describe(executor)}: it already holds intents until "
            "after_flush (a batching() or a batched executor is inside it), so its batches "
            "would be counted sent before they go. Put batching() around the executor that "
            "sends, alone: batching(with_fallback(bulk, spare)) or "
            "with_fallback(batching(bulk), spare)"
        )
    return _Batching(executor, size)
