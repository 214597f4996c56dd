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
        sent: list[Intent] = []
        doubt: list[Intent] = []
        todo = intents
        failed: list[tuple[Intent, BaseException]] = []
        last: BaseException | None = None
        for executor in self.executors:
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
        for executor in self.executors:
            try:
                return executor(only_known(executor, intent))
            except Exception as exc:
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
