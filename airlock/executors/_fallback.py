"""``with_fallback``: try executors in order until one accepts the intent."""

from __future__ import annotations

import logging
from collections.abc import Callable

from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, DispatchError
from airlock.executors._base import Group, batch_failures, describe, only_known, send_each
from airlock.typing import Executor

__all__ = ["with_fallback"]

logger = logging.getLogger("airlock.executors")


class _Fallback(Group):
    send_batch: Callable[[list[Intent]], None]

    def __init__(self, executors: tuple[Executor, ...], what: str) -> None:
        super().__init__(executors, what)
        if any(getattr(e, "send_batch", None) is not None for e in executors):
            self.send_batch = self._send_batch

    def _send_batch(self, intents: list[Intent]) -> None:
        """The batch to the primary; what failed (never what went or may have) to the next."""
        self._through(0, intents, intents)

    def _through(
        self,
        first: int,
        intents: list[Intent],
        todo: list[Intent],
        doubt: list[Intent] | None = None,
        last: BaseException | None = None,
    ) -> None:
        """Send ``todo`` (of the batch ``intents``) through the executors from ``first`` on,
        each time only what failed (never what went, nor ``doubt``: what may have gone, by
        ``last``); raise ``BatchDispatchError`` unless all of it went and none is in doubt."""
        doubt = list(doubt or ())
        skip = {i.id for i in todo} | {i.id for i in doubt}
        sent: list[Intent] = [i for i in intents if i.id not in skip]
        failed: list[tuple[Intent, BaseException]] = []
        for executor in self.executors[first:]:
            try:
                send_each(executor, [only_known(executor, i) for i in todo])
            except Exception as exc:
                last = exc
                went, failed, unsure = batch_failures(exc, todo)
                sent += went
                doubt += unsure
                todo = [i for i, _ in failed]
                if todo:
                    logger.warning(
                        "airlock: %s failed for %d intent(s) (%r); falling back",
                        describe(executor), len(todo), exc,
                    )
                    continue
            else:
                sent += todo
                todo = []
            break
        if todo or doubt:
            raise BatchDispatchError(
                f"every executor failed for {len(todo)} intent(s) of a batch of {len(intents)}"
                + (f"; {len(doubt)} in doubt" if doubt else ""),
                sent=sent,
                in_doubt=doubt,
                errors=[*failed, *((i, last) for i in doubt if last is not None)],
            ) from last

    def __call__(self, intent: Intent) -> object:
        errors: list[tuple[Intent | None, BaseException]] = []
        for index, executor in enumerate(self.executors):
            try:
                return executor(only_known(executor, intent))
            except Exception as exc:
                batch = _batch_of(exc, intent)
                if batch is not None:  # this call sent a batch (batching()): it falls back whole
                    _, failed, doubt = batch_failures(exc, batch)
                    todo = [i for i, _ in failed]
                    if index + 1 < len(self.executors) and todo:
                        logger.warning(
                            "airlock: %s failed for %d intent(s) (%r); falling back",
                            describe(executor), len(todo), exc,
                        )
                        self._through(index + 1, batch, todo, doubt, exc)
                        return None
                    raise
                errors.append((intent, exc))
                if len(errors) < len(self.executors):
                    logger.warning(
                        "airlock: %s failed for %s (%r); falling back",
                        describe(executor),
                        intent,
                        exc,
                    )
        tried = "; ".join(
            f"{describe(executor)}: {exc!r}"
            for executor, (_, exc) in zip(self.executors, errors, strict=True)
        )
        last = errors[-1][1]
        raise DispatchError(f"every executor failed for {intent} ({tried})", errors) from last

    def __repr__(self) -> str:
        return f"<with_fallback {' -> '.join(describe(e) for e in self.executors)}>"


def with_fallback(primary: Executor, *fallbacks: Executor) -> _Fallback:
    """Try ``primary``, then each fallback in order, until one returns without an error.

    When all fail: ``airlock.DispatchError`` whose ``errors`` holds every ``(intent, error)``,
    chained from the last error. A failure that leads to a fallback is logged as a warning.
    ``prepare`` runs through every executor, so arguments one of them cannot send fail at enqueue.
    """
    return _Fallback((primary, *fallbacks), "with_fallback")


def _batch_of(exc: BaseException, intent: Intent) -> list[Intent] | None:
    """The intents a ``DispatchError`` raised by one call names besides ``intent`` (a batch
    that call sent, as ``batching()`` does when it fills), with ``intent``; else None."""
    if not isinstance(exc, DispatchError):
        return None
    named = [i for i, _ in exc.errors if i is not None]
    if all(i.id == intent.id for i in named):
        return None
    return [*named, *(() if any(i.id == intent.id for i in named) else (intent,))]
