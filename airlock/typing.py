"""Protocols and aliases for type checkers: ``Policy`` and ``Executor``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeAlias, runtime_checkable

from airlock._intent import Intent

__all__ = ["Executor", "Policy"]

#: An executor is a plain callable ``executor(intent)``. It may also have ``prepare(intent) ->
#: Intent`` (called at enqueue: validate arguments, turn relative delays into absolute times),
#: ``after_flush()`` (called once after each flush) and ``close()``.
Executor: TypeAlias = Callable[[Intent], object]


@runtime_checkable
class Policy(Protocol):
    """Decides which intents leave a scope. No base class needed: any object with both methods.

    Subclassing is optional and inherits the no-op defaults below.
    """

    def on_enqueue(self, intent: Intent) -> None:
        """Observe an intent as it is enqueued; raise ``PolicyViolation`` to refuse it."""
        return None

    def allows(self, intent: Intent) -> bool:
        """At flush: True to let the intent through, False to drop it."""
        return True
