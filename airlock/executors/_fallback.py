"""``with_fallback``: try executors in order until one accepts the intent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from contextvars import ContextVar
from typing import Literal

from airlock._dispatch import current_flush, held, holding, named_errors, went_with
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, DispatchError
from airlock.executors._base import Group, describe, only_known, refuse_shared_holder, send_each
from airlock.executors._unsent import (
    batch_failures,
    fails_all,
    joined,
    name_unsent,
    named_by,
    speak_for,
    unsent_after,
)
from airlock.typing import Executor

__all__ = ["with_fallback"]

logger = logging.getLogger("airlock.executors")


class _Taken:
    """What a ``with_fallback`` holds for one flush: which of its executors took each intent
    (one that buffers, such as ``batching()``, may later name it in a failed batch), and the
    intents no executor took, which ``after_flush`` reports."""

    __slots__ = ("at", "given_up", "in_doubt", "others", "took")

    def __init__(self) -> None:
        self.took: set[str] = set()  # every intent a call took: an interrupt's note covers them
        self.at: dict[str, tuple[int, Intent]] = {}
        self.given_up: list[tuple[Intent, BaseException]] = []
        self.in_doubt: list[Intent] = []  # of given_up: they may have gone
        self.others: list[BaseException] = []  # what failed batches said of others' intents


class _Fallback(Group):
    send_batch: Callable[[list[Intent]], None]

    def __init__(self, executors: tuple[Executor, ...], what: str) -> None:
        super().__init__(executors, what)
        if any(getattr(e, "send_batch", None) is not None for e in executors):
            self.send_batch = self._send_batch
        self._outside: ContextVar[_Taken | None] = ContextVar(
            f"airlock_fallback_{id(self):x}", default=None
        )

    def _send_batch(self, intents: list[Intent]) -> None:
        """The batch to the primary; what failed (never what went or may have) to the next."""
        sent: list[Intent] = []
        doubt: list[tuple[Intent, BaseException]] = []
        todo = intents
        failed: list[tuple[Intent, BaseException]] = []  # by the last executor that tried
        last: BaseException | None = None
        for executor in self.executors:
            try:
                send_each(executor, [only_known(executor, i) for i in todo])
            except BaseException as exc:
                if not isinstance(exc, Exception):  # an interrupt: what went before it went
                    name_unsent(exc, sent, intents)
                    raise
                last = exc
                went, failed, unsure = batch_failures(exc, todo)
                sent += went
                doubt += [(i, named_by(exc).get(i.id, exc)) for i in unsure]
                todo = [i for i, _ in failed]
                if todo:
                    logger.warning(
                        "airlock: %s failed for %d intent(s) (%r); falling back",
                        describe(executor), len(todo), exc,
                    )
                    continue
            else:
                sent += todo
                todo, failed = [], []
            break
        if todo or doubt:
            raise BatchDispatchError(
                f"every executor failed for {len(todo)} intent(s) of a batch of {len(intents)}"
                + (f"; {len(doubt)} in doubt" if doubt else ""),
                sent=sent,
                in_doubt=[i for i, _ in doubt],
                errors=[*failed, *doubt],
            ) from last

    def __call__(self, intent: Intent) -> object:
        # Within a flush, what each executor took is kept until after_flush; outside one (a
        # direct call), nothing is kept: there is no after_flush to report to.
        flush = current_flush()
        taken = holding(self, self._outside, _Taken) if flush else _Taken()
        outcome, result, errors = self._hand(intent, 0, taken)
        error: BaseException | None = None
        if outcome == "in doubt":  # it may have gone: whoever catches this must not resend it
            last = errors[-1][1]
            error = BatchDispatchError(
                f"{intent} is in doubt: {last}", in_doubt=[intent], errors=[(intent, last)]
            )
            error.__cause__ = last
        elif outcome == "failed":
            tried = "; ".join(
                f"{describe(executor)}: {exc!r}"
                for executor, (_, exc) in zip(self.executors[-len(errors):], errors, strict=True)
            )
            error = DispatchError(f"every executor failed for {intent} ({tried})", errors)
            error.__cause__ = errors[-1][1]
        if not flush:  # no after_flush to tell what batches said of others' intents: now
            for others in taken.others:
                error = others if error is None else joined(error, others)
        if error is not None:
            raise error
        taken.took.add(intent.id)
        return result

    def _hand(
        self, intent: Intent, start: int, taken: _Taken, done: set[int] | None = None
    ) -> tuple[str, object, list[tuple[Intent | None, BaseException]]]:
        """Try the executors from ``start`` on until one takes ``intent`` (none whose
        ``after_flush`` already ran: ``done``, by id): ``("taken", its result, errors)``,
        ``("in doubt", ...)`` or ``("failed", None, errors)``."""
        errors: list[tuple[Intent | None, BaseException]] = []
        for level in range(start, len(self.executors)):
            executor = self.executors[level]
            if done and id(executor) in done:
                continue  # it would hold the intent past its last send
            try:
                result = executor(only_known(executor, intent))
            except Exception as exc:
                errors.append((intent, exc))
                try:
                    handed = self._reroute(exc, level, taken, intent, done)
                except BaseException as interrupt:  # what the batch said still stands
                    joined(interrupt, exc)
                    raise
                others = _rest(exc, handed | {intent.id} | taken.at.keys())
                if others is not None and not fails_all(others):
                    taken.others.append(others)  # another path's, on a shared batching
                if intent.id not in named_by(exc) and (handed or went_with(intent, exc, executor)):
                    if hasattr(executor, "after_flush"):  # another part of it may hold it
                        taken.at[intent.id] = (level, intent)
                    return "taken", None, errors  # a batch went from this call, with this intent
                if intent.id in _in_doubt(exc):
                    return "in doubt", None, errors  # it may have gone: never sent again
                if level + 1 < len(self.executors):
                    logger.warning(
                        "airlock: %s failed for %s (%r); falling back",
                        describe(executor),
                        intent,
                        exc,
                    )
                continue
            if hasattr(executor, "after_flush"):  # it may buffer: a later error may name it
                taken.at[intent.id] = (level, intent)
            return "taken", result, errors
        return "failed", None, errors

    def _reroute(
        self,
        exc: BaseException,
        level: int,
        taken: _Taken,
        calling: Intent | None,
        done: set[int] | None = None,
    ) -> set[str]:
        """Hand on what ``exc`` names as failed of the intents the executor at ``level`` took
        earlier in this flush (a batch of a buffering executor failed): each to the executors
        after it, or, in doubt or refused by all, to ``taken.given_up``. Returns their ids."""
        doubt = _in_doubt(exc)
        mine: list[tuple[Intent, BaseException]] = []
        for intent_id, error in named_by(exc).items():
            held_at = taken.at.get(intent_id)
            if held_at is None or held_at[0] != level or (calling and intent_id == calling.id):
                continue  # not ours: this call's own, or another flush's (a nested one)
            del taken.at[intent_id]
            mine.append((held_at[1], error))
        for count, (intent, error) in enumerate(mine):
            if intent.id in doubt:
                taken.given_up.append((intent, error))
                taken.in_doubt.append(intent)
                continue
            try:
                outcome, _, errors = self._hand(intent, level + 1, taken, done)
            except BaseException:  # an interrupt: what it stopped is given up (failed)
                taken.given_up += mine[count:]
                raise
            if outcome != "taken":
                taken.given_up.append((intent, errors[-1][1] if errors else error))
                if outcome == "in doubt":
                    taken.in_doubt.append(intent)
        return {i.id for i, _ in mine}

    def after_flush(self) -> None:
        """Each executor's ``after_flush``, in order; what a failed batch names goes on to the
        executors after the one that failed it; what none took is reported in one
        ``DispatchError``."""
        self._finish("after_flush")

    def close(self) -> None:
        """As ``after_flush``, with each executor's ``close``."""
        self._finish("close")

    def _finish(self, hook: Literal["after_flush", "close"]) -> None:
        taken = held(self, self._outside)
        first: BaseException | None = None
        called: set[int] = set()
        stopped: list[tuple[Intent, BaseException]] = []  # ours an interrupted hook held
        for level, executor in enumerate(self.executors):
            method = getattr(executor, hook, None)
            if method is None or id(executor) in called:
                continue
            called.add(id(executor))
            try:
                method()
            except BaseException as exc:
                if taken is not None:
                    held_here = [i for at, i in taken.at.values() if at == level]
                    stopped += unsent_after(executor, exc, held_here)
                # What it names of ours goes on; anything else it says stays an error.
                try:
                    handed = (
                        self._reroute(exc, level, taken, None, called)
                        if taken is not None
                        else set()
                    )
                except BaseException as interrupt:  # every hook still runs, then it goes on
                    first = interrupt if first is None else joined(first, interrupt)
                    first = joined(first, exc)  # what the batch said of others still stands
                    continue
                rest = _rest(exc, handed)
                if rest is not None:
                    first = rest if first is None else joined(first, rest)
        taken = held(self, self._outside, take=True)
        given_up = taken.given_up if taken is not None else []
        for others in taken.others if taken is not None else ():
            first = others if first is None else joined(first, others)
        if first is not None and not isinstance(first, Exception) and taken is not None:
            # What this flush of ours knows: every intent it took, and of them those not
            # surely sent (an interrupted hook held them, none took them, an error names them).
            said = [pair for error in taken.others for pair in named_errors(error) or ()]
            speak_for(first, self, taken.took, [*stopped, *taken.given_up], said)
        if first is not None and (not given_up or fails_all(first)):
            raise first
        if given_up:
            errors = [*(first.errors if isinstance(first, DispatchError) else ()), *given_up]
            doubt = [*_in_doubt_of(first), *(taken.in_doubt if taken is not None else ())]
            raise BatchDispatchError(
                f"{self!r}: no executor took {len(given_up)} intent(s) of failed batches: "
                + "; ".join(f"{i} ({type(e).__name__}: {e})" for i, e in given_up),
                in_doubt=doubt,
                errors=errors,
            ) from given_up[-1][1]

    def __repr__(self) -> str:
        return f"<with_fallback {' -> '.join(describe(e) for e in self.executors)}>"


def _in_doubt_of(exc: BaseException | None) -> list[Intent]:
    return list(exc.in_doubt) if isinstance(exc, BatchDispatchError) else []


def _in_doubt(exc: BaseException) -> set[str]:
    return {i.id for i in _in_doubt_of(exc)}


def _rest(exc: BaseException, handed: Collection[str]) -> BaseException | None:
    """``exc`` less the intents ``handed`` on: None when it named only those."""
    if not handed or not isinstance(exc, DispatchError):
        return exc
    errors = [(i, e) for i, e in exc.errors if i is None or i.id not in handed]
    if not errors:
        return None
    rest = BatchDispatchError(
        str(exc), in_doubt=[i for i in _in_doubt_of(exc) if i.id not in handed], errors=errors
    )
    rest.__cause__ = exc
    return rest


def with_fallback(primary: Executor, *fallbacks: Executor) -> _Fallback:
    """Try ``primary``, then each fallback in order, until one returns without an error.

    When all fail: ``airlock.DispatchError`` whose ``errors`` holds every ``(intent, error)``,
    chained from the last error. A failure that leads to a fallback is logged as a warning.
    ``prepare`` runs through every executor, so arguments one of them cannot send fail at enqueue.
    One executor that holds intents until ``after_flush`` (a ``batching()``) at two levels:
    ``TypeError``.
    """
    executors = (primary, *fallbacks)
    refuse_shared_holder(
        executors, "with_fallback", "levels", "what one of its batches failed would go back "
        "to it. Fall back to another executor; with_retry(...) retries the same one"
    )
    return _Fallback(executors, "with_fallback")
