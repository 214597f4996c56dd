"""``route``: choose the executor for each intent by its name or a dispatch option."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from contextvars import ContextVar
from typing import Any

from airlock._dispatch import current_flush, held, holding
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, UsageError
from airlock.executors._base import buffers, describe, known_options, prepare_with, send_each
from airlock.executors._unsent import (
    Hook,
    batch_failures,
    fails_all,
    finish_hooks,
    name_unsent,
    named_by,
)
from airlock.typing import Executor, ExecutorWithHooks

__all__ = ["route"]

_MISSING: Any = object()


class _Route(ExecutorWithHooks):
    def __init__(
        self,
        table: Mapping[Hashable, Executor],
        by: str | Callable[[Intent], Hashable],
        default: Executor | None,
        strip: tuple[str, ...],
    ) -> None:
        self.table = dict(table)
        self.by = by
        self.default = default
        self.strip = strip
        # Per flush: which executor took each intent, so an interrupt in after_flush can say
        # what of the others went.
        self._routed: ContextVar[dict[str, tuple[int, Intent]] | None] = ContextVar(
            f"airlock_route_{id(self):x}", default=None
        )
        if any(getattr(e, "send_batch", None) is not None for e in self._executors()):
            self.send_batch = self._send_batch

    send_batch: Callable[[list[Intent]], None]

    @property
    def known_options(self) -> frozenset[str] | None:
        """The routing options plus every option a target knows (``None``: one does not say)."""
        union = set(self.strip)
        for executor in self._executors():
            known = known_options(executor)
            if known is None:
                return None
            union |= known
        return frozenset(union)

    def _send_batch(self, intents: list[Intent]) -> None:
        """Split the batch by route; each part goes as one batch (in order) to its executor."""
        parts: dict[int, tuple[Executor, list[Intent], list[Intent]]] = {}
        for intent in intents:
            executor = self.choose(intent)
            part = parts.setdefault(id(executor), (executor, [], []))
            part[1].append(intent)
            part[2].append(intent.without_options(*self.strip) if self.strip else intent)
        sent: list[Intent] = []
        doubt: list[Intent] = []
        errors: list[tuple[Intent | None, BaseException]] = []
        for executor, originals, stripped in parts.values():
            try:
                send_each(executor, stripped)
            except BaseException as exc:
                if not isinstance(exc, Exception):  # an interrupt: the parts before it went
                    name_unsent(exc, sent, intents)
                    raise
                went, failed, unsure = batch_failures(exc, originals)
                sent += went
                doubt += unsure
                errors += [*failed, *((i, exc) for i in unsure)]
            else:
                sent += originals
        if errors:
            raise BatchDispatchError(
                f"{self!r}: {len(errors)} of a batch of {len(intents)} failed",
                sent=sent,
                in_doubt=doubt,
                errors=errors,
            ) from errors[0][1]

    def _key(self, intent: Intent) -> Hashable:
        if callable(self.by):
            return self.by(intent)
        if self.by == "name":
            return intent.name
        return intent.dispatch_options.get(self.by)

    def choose(self, intent: Intent) -> Executor:
        """The executor this intent goes to; ``UsageError`` when no route matches."""
        key = self._key(intent)
        try:
            executor = self.table[key]
        except (KeyError, TypeError):  # TypeError: an unhashable option value
            executor = _MISSING
        if executor is _MISSING:
            if self.default is None:
                what = (
                    f"dispatch option {self.by!r}={key!r}"
                    if isinstance(self.by, str) and self.by != "name"
                    else f"route key {key!r}"
                )
                known = ", ".join(repr(k) for k in self.table) or "none"
                raise UsageError(
                    f"no route for {intent}: {what} is not in the table (known: {known}) and "
                    "route() has no default; add it to the table or pass default=..."
                )
            executor = self.default
        return executor

    def prepare(self, intent: Intent) -> Intent:
        """Pick the route now (an unknown one fails at enqueue) and let that executor prepare.

        The chosen executor's ``prepare`` never sees the routing options; they stay on the
        intent so the flush can route it again.
        """
        executor = self.choose(intent)
        kept = {k: intent.dispatch_options[k] for k in self.strip if k in intent.dispatch_options}
        prepared = prepare_with(executor, intent.without_options(*self.strip))
        if kept:
            prepared = prepared.replace(dispatch_options={**prepared.dispatch_options, **kept})
        return prepared

    def __call__(self, intent: Intent) -> object:
        executor = self.choose(intent)
        try:
            result = executor(intent.without_options(*self.strip) if self.strip else intent)
        except Exception as exc:
            if not fails_all(exc) and intent.id not in named_by(exc):
                self._took(intent, executor)  # a batch went from this call, failing others
            raise
        self._took(intent, executor)
        return result

    def _took(self, intent: Intent, executor: Executor) -> None:
        if current_flush() is not None:
            routed: dict[str, tuple[int, Intent]] = holding(self, self._routed, dict)
            routed[intent.id] = (id(executor), intent)

    @property
    def buffers(self) -> bool:
        """Whether one of the routes holds intents until ``after_flush``."""
        return any(buffers(e) for e in self._executors())

    def _executors(self) -> list[Executor]:
        return [*self.table.values(), *([self.default] if self.default is not None else [])]

    def after_flush(self) -> None:
        """Every route's ``after_flush``; what they raise is raised as one error."""
        self._finish("after_flush")

    def close(self) -> None:
        """Every route's ``close``, as ``after_flush``."""
        self._finish("close")

    def _finish(self, hook: Hook) -> None:
        routed: dict[str, tuple[int, Intent]] = held(self, self._routed, take=True) or {}
        finish_hooks(  # on an interrupt, what the other routes sent went
            self, self._executors(), hook,
            held_by=lambda executor: [i for key, i in routed.values() if key == id(executor)],
            took=routed.keys(),
        )

    def __repr__(self) -> str:
        by = describe(self.by) if callable(self.by) else repr(self.by)
        routes = ", ".join(f"{k!r}: {describe(v)}" for k, v in self.table.items())
        return f"<route by={by} {{{routes}}} default={describe(self.default)}>"


def route(
    table: Mapping[Hashable, Executor],
    *,
    by: str | Callable[[Intent], Hashable] = "name",
    default: Executor | None = None,
    strip: tuple[str, ...] | None = None,
) -> _Route:
    """An executor that hands each intent to ``table[key]``, or ``default`` when none matches.

    ``by="name"`` (default): the key is the intent's name. ``by="<option>"``: the key is that
    dispatch option's value (``None`` when absent), and the option is removed before the chosen
    executor sees it. ``by=callable``: ``key = by(intent)``; name in ``strip`` the options it
    consumes. No route and no default: ``UsageError`` at enqueue time (``prepare``), not at flush.
    """
    if not isinstance(table, Mapping):
        raise TypeError(f"route() needs a mapping of key -> executor, got {table!r}")
    for key, executor in table.items():
        if not callable(executor):
            raise TypeError(f"route {key!r} maps to {executor!r}, which is not a callable executor")
    if default is not None and not callable(default):
        raise TypeError(f"route default {default!r} is not a callable executor")
    if not (callable(by) or isinstance(by, str)):
        raise TypeError(f"route by= must be 'name', an option name or a callable, got {by!r}")
    if strip is None:
        strip = (by,) if isinstance(by, str) and by != "name" else ()
    return _Route(table, by, default, tuple(strip))
