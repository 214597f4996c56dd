"""The built-in policies: AllowAll, DropAll, AssertNoEffects, BlockTasks, LogOnFlush."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from airlock._intent import Intent
from airlock.exceptions import PolicyViolation
from airlock.typing import Policy

__all__ = ["AllowAll", "AssertNoEffects", "BlockTasks", "DropAll", "LogOnFlush"]


class AllowAll(Policy):
    """Lets every intent through (the default)."""

    def __repr__(self) -> str:
        return "AllowAll()"


class DropAll(Policy):
    """Drops every intent at flush: a dry run, a bulk job that must stay silent."""

    def allows(self, intent: Intent) -> bool:
        return False

    def __repr__(self) -> str:
        return "DropAll()"


class AssertNoEffects(Policy):
    """Raises ``PolicyViolation`` at enqueue: code under it must not ask for side effects."""

    def on_enqueue(self, intent: Intent) -> None:
        raise PolicyViolation(
            f"AssertNoEffects: {intent} was enqueued where no side effects are allowed; "
            "remove the enqueue or run this code outside the AssertNoEffects policy"
        )

    def allows(self, intent: Intent) -> bool:
        return False

    def __repr__(self) -> str:
        return "AssertNoEffects()"


class BlockTasks(Policy):
    """Blocks tasks by name (short name or ``module.qualname``).

    By default blocked intents are dropped at flush; with ``raise_on_enqueue=True`` enqueueing
    one raises ``PolicyViolation`` at once.
    """

    def __init__(self, names: Iterable[str] | str, *, raise_on_enqueue: bool = False) -> None:
        self.names = frozenset([names] if isinstance(names, str) else names)
        self.raise_on_enqueue = raise_on_enqueue

    def blocks(self, intent: Intent) -> bool:
        """True when the intent's task is one of the blocked names."""
        if intent.name in self.names:
            return True
        task = intent.task
        full = f"{getattr(task, '__module__', '')}.{getattr(task, '__qualname__', '')}"
        return full in self.names or getattr(task, "name", None) in self.names

    def on_enqueue(self, intent: Intent) -> None:
        if self.raise_on_enqueue and self.blocks(intent):
            raise PolicyViolation(
                f"BlockTasks: {intent.name!r} is blocked here ({intent}); "
                "drop the enqueue or remove the task from BlockTasks"
            )

    def allows(self, intent: Intent) -> bool:
        return not self.blocks(intent)

    def __repr__(self) -> str:
        flag = ", raise_on_enqueue=True" if self.raise_on_enqueue else ""
        return f"BlockTasks({sorted(self.names)!r}{flag})"


class LogOnFlush(Policy):
    """Lets everything through and logs each intent it allows (logger ``airlock`` by default)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("airlock")

    def allows(self, intent: Intent) -> bool:
        self.logger.info("airlock: dispatching %r", intent)
        return True

    def __repr__(self) -> str:
        return f"LogOnFlush(logger={self.logger.name!r})"
