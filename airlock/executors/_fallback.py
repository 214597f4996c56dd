"""``with_fallback``: try executors in order until one accepts the intent."""

from __future__ import annotations

import logging

from airlock._intent import Intent
from airlock.exceptions import DispatchError
from airlock.executors._base import Group, describe
from airlock.typing import Executor

__all__ = ["with_fallback"]

logger = logging.getLogger("airlock.executors")


class _Fallback(Group):
    def __call__(self, intent: Intent) -> object:
        errors: list[tuple[Intent | None, BaseException]] = []
        for executor in self.executors:
            try:
                return executor(intent)
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
