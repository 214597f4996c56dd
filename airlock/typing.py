"""Protocols and aliases for type checkers: ``Policy``, ``Executor`` and the executor hooks.

An executor may have any of three optional hooks. Declare the ones a class implements by
subclassing their protocols (``class Mine(SupportsPrepare, SupportsAfterFlush): ...``): then
``mypy --strict`` reports a misspelt or mistyped hook, since a protocol method the class does
not define leaves it abstract (and calling it raises ``NotImplementedError``). Plain
duck-typed executors keep working without them; ``isinstance(x, SupportsPrepare)`` works too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol, TypeAlias, runtime_checkable

from airlock._intent import Intent

__all__ = [
    "Executor",
    "ExecutorWithHooks",
    "Policy",
    "SupportsAfterFlush",
    "SupportsClose",
    "SupportsOptions",
    "SupportsPrepare",
]

#: An executor is a plain callable ``executor(intent)``. It may also have ``prepare(intent) ->
#: Intent`` (called at enqueue: validate arguments, turn relative delays into absolute times),
#: ``after_flush()`` (called once after each flush) and ``close()``: see the protocols below.
Executor: TypeAlias = Callable[[Intent], object]


@runtime_checkable
class SupportsPrepare(Protocol):
    """An executor hook called at ``enqueue``: return the intent to buffer (or raise)."""

    def prepare(self, intent: Intent) -> Intent:
        """Validate the intent (raise to refuse it) and return it, possibly changed."""
        raise NotImplementedError


@runtime_checkable
class SupportsAfterFlush(Protocol):
    """An executor hook called once after each flush (a batching executor sends here)."""

    def after_flush(self) -> None:
        """Finish what this flush's calls started; raise ``DispatchError`` for what failed."""
        raise NotImplementedError


@runtime_checkable
class SupportsClose(Protocol):
    """An executor hook that releases resources (pools drain here)."""

    def close(self) -> None:
        """Release what the executor holds; it is not called again afterwards."""
        raise NotImplementedError


@runtime_checkable
class SupportsOptions(Protocol):
    """An executor that declares the dispatch options it understands.

    ``known_options``: the option names (it refuses any other at enqueue with
    ``UnknownOptionError``), or ``None`` when it does not say. ``broadcast`` and
    ``with_fallback`` give each executor only the options it declares (all of them when it
    declares none), and refuse an option no executor knows; a wrapper reports what it wraps
    plus the options it consumes (``route``'s). An executor without ``prepare`` that declares
    them is checked by the wrappers around it.
    """

    known_options: Collection[str] | None


@runtime_checkable
class ExecutorWithHooks(SupportsPrepare, SupportsAfterFlush, SupportsClose, Protocol):
    """An executor with all three hooks, e.g. a wrapper that forwards them to what it wraps."""

    def __call__(self, intent: Intent) -> object:
        """Dispatch one intent."""
        raise NotImplementedError


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
