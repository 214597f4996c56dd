"""What every wrapper shares: forwarding ``prepare``, ``after_flush`` and ``close``."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Literal, TypeAlias

from airlock._intent import Intent
from airlock.exceptions import UnknownOptionError
from airlock.typing import Executor, ExecutorWithHooks

#: The hooks ``call_hooks`` calls (``prepare`` takes an intent: ``prepare_with`` calls it).
Hook: TypeAlias = Literal["after_flush", "close"]

__all__ = [
    "Group",
    "Wrapper",
    "call_hooks",
    "check_options",
    "describe",
    "prepare_with",
    "unique",
]


def describe(executor: Any) -> str:
    """A short readable name for an executor in messages and reprs."""
    name = getattr(executor, "__qualname__", None) or getattr(executor, "__name__", None)
    if isinstance(name, str):
        return name
    if getattr(type(executor), "__repr__", None) is object.__repr__:  # "<Cls object at 0x..>"
        return type(executor).__qualname__
    return repr(executor)


def prepare_with(executor: Any, intent: Intent) -> Intent:
    """``executor.prepare(intent)`` when it has one, else the intent unchanged."""
    prepare = getattr(executor, "prepare", None)
    return prepare(intent) if prepare is not None else intent


def check_options(where: str, what: str, given: Iterable[str], known: Collection[str]) -> None:
    """Raise ``UnknownOptionError`` naming each of ``given`` that is not in ``known``.

    ``where`` starts the message (the intent, or the factory called); ``what`` names the kind of
    option, e.g. ``"huey dispatch"``. Every executor that checks its options calls this.
    """
    unknown = [name for name in given if name not in known]
    if unknown:
        names = ", ".join(repr(name) for name in sorted(unknown))
        raise UnknownOptionError(
            f"{where}: unknown {what} option{'s' if len(unknown) > 1 else ''} {names}; "
            f"known: {', '.join(sorted(known))}",
            unknown=unknown,
            known=known,
        )


def unique(executors: Iterable[Any]) -> list[Any]:
    """The executors without repeats (by identity), in order."""
    seen: list[Any] = []
    for executor in executors:
        if not any(executor is s for s in seen):
            seen.append(executor)
    return seen


def call_hooks(executors: Iterable[Any], hook: Hook) -> None:
    """Call ``hook()`` on each executor that has it; every one is called, the first error raised.

    One inner executor failing to send its batch must not stop the others from sending theirs.
    """
    first: BaseException | None = None
    for executor in unique(executors):
        method = getattr(executor, hook, None)
        if method is None:
            continue
        try:
            method()
        except BaseException as exc:
            if first is None:
                first = exc
    if first is not None:
        raise first


class Wrapper(ExecutorWithHooks):
    """Base of the single-executor wrappers: forwards the optional executor methods.

    Subclasses implement ``__call__``. ``inner`` is the wrapped executor.
    """

    def __init__(self, executor: Executor) -> None:
        if not callable(executor):
            raise TypeError(
                f"{executor!r} is not an executor: an executor is a callable executor(intent)"
            )
        self.inner = executor

    def prepare(self, intent: Intent) -> Intent:
        """Forwarded to the wrapped executor (validation and delays happen at enqueue)."""
        return prepare_with(self.inner, intent)

    def after_flush(self) -> None:
        """Forwarded to the wrapped executor."""
        call_hooks([self.inner], "after_flush")

    def close(self) -> None:
        """Forwarded to the wrapped executor."""
        call_hooks([self.inner], "close")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {describe(self.inner)}>"


class Group(ExecutorWithHooks):
    """Base of the wrappers over several executors (fallback, broadcast).

    Subclasses implement ``__call__``. ``prepare`` runs through every executor in turn, since
    each of them may receive the intent; ``after_flush`` and ``close`` reach each one once.
    """

    def __init__(self, executors: tuple[Executor, ...], what: str) -> None:
        for executor in executors:
            if not callable(executor):
                raise TypeError(f"{what} got {executor!r}, which is not a callable executor")
        self.executors = executors

    def prepare(self, intent: Intent) -> Intent:
        """Every executor's ``prepare`` in turn: arguments any of them rejects fail at enqueue."""
        for executor in self.executors:
            intent = prepare_with(executor, intent)
        return intent

    def after_flush(self) -> None:
        """Forwarded to every executor."""
        call_hooks(self.executors, "after_flush")

    def close(self) -> None:
        """Forwarded to every executor."""
        call_hooks(self.executors, "close")
