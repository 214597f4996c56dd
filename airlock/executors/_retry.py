"""``with_retry``: try an executor again after a failure, with exponential backoff and jitter."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, DispatchError
from airlock.executors._base import Wrapper, describe
from airlock.executors._unsent import batch_failures, fails_all, joined, name_unsent, named_by
from airlock.typing import Executor

__all__ = ["RetryStatistics", "exponential_backoff", "with_retry"]

logger = logging.getLogger("airlock.executors")


def exponential_backoff(
    base: float = 0.1,
    *,
    factor: float = 2.0,
    maximum: float = 30.0,
    jitter: float = 0.1,
    random: Callable[[], float] = random.random,
) -> Callable[[int], float]:
    """Delay before retry ``n`` (1, 2, ...): ``base * factor**(n-1)``, capped at ``maximum``.

    ``jitter`` adds up to that fraction of the delay at random, so many processes that failed
    together do not retry in lockstep. ``jitter=0`` gives an exact schedule.
    """
    if base < 0 or factor < 1 or maximum < 0 or jitter < 0:
        raise ValueError(
            "exponential_backoff needs base >= 0, factor >= 1, maximum >= 0, jitter >= 0"
        )

    def delay(retry: int) -> float:
        seconds = min(maximum, base * factor ** (retry - 1))
        return seconds + seconds * jitter * random()

    return delay


@dataclass
class RetryStatistics:
    """Counters of a ``with_retry`` wrapper (updated under a lock when an intent is done)."""

    attempts: int = 0
    """Calls made to the wrapped executor."""
    retries: int = 0
    """Attempts that were repeats of a failed one."""
    successes: int = 0
    """Intents that went through, possibly after retries."""
    give_ups: int = 0
    """Intents whose last error was re-raised (attempts exhausted or not retryable)."""


@dataclass
class _Batches:
    tries: dict[str, int] = field(default_factory=dict)
    given_up: list[tuple[Intent, BaseException]] = field(default_factory=list)
    in_doubt: list[Intent] = field(default_factory=list)  # of given_up: they may have gone


class _Retry(Wrapper):
    def __init__(
        self,
        executor: Executor,
        attempts: int,
        backoff: Callable[[int], float],
        retry_on: tuple[type[BaseException], ...],
        sleep: Callable[[float], object],
    ) -> None:
        super().__init__(executor)
        self.attempts = attempts
        self.backoff = backoff
        self.retry_on = retry_on
        self.sleep = sleep
        self.statistics = RetryStatistics()
        self._lock = threading.Lock()
        # Per flush (a flush runs in one context): the attempts so far of the intents of failed
        # batches, and those given up on, which after_flush reports.
        self._flush: ContextVar[_Batches | None] = ContextVar(f"airlock_retry_{id(self):x}",
                                                               default=None)

    @property
    def _batches(self) -> _Batches:
        state = self._flush.get()
        if state is None:
            state = _Batches()
            self._flush.set(state)
        return state

    def _tally(self, attempts: int, ok: bool) -> None:
        with self._lock:
            stats = self.statistics
            stats.attempts += attempts
            stats.retries += attempts - 1
            if ok:
                stats.successes += 1
            else:
                stats.give_ups += 1

    def _wait(self, attempt: int, what: object, exc: BaseException) -> None:
        delay = self.backoff(attempt)
        logger.warning(
            "airlock: %s failed for %s (attempt %d of %d: %r); retrying in %.3gs",
            describe(self.inner),
            what,
            attempt,
            self.attempts,
            exc,
            delay,
        )
        self.sleep(delay)

    def _others(
        self, exc: BaseException, intent: Intent | None
    ) -> list[tuple[Intent, BaseException]]:
        # The intents a DispatchError from a buffering inner (batching) names besides ``intent``:
        # a batch went from this call and failed. In-doubt ones are never sent again.
        if not isinstance(exc, DispatchError):
            return []
        doubt = {i.id for i in getattr(exc, "in_doubt", ())}
        seen: dict[str, tuple[Intent, BaseException]] = {}
        for i, e in exc.errors:
            if i is not None and (intent is None or i.id != intent.id):
                seen.setdefault(i.id, (i, e))
        # In doubt: may have gone, so never sent again; reported failed by after_flush.
        unsure = [pair for pair in seen.values() if pair[0].id in doubt]
        self._batches.given_up += unsure
        self._batches.in_doubt += [i for i, _ in unsure]
        return [pair for pair in seen.values() if pair[0].id not in doubt]

    def _again(self, failed: list[tuple[Intent, BaseException]]) -> None:
        # Hand a failed batch's intents to the inner executor again (it buffers them: they go
        # with its next send), each within its own attempts; the others are given up and
        # reported by after_flush.
        retry: list[Intent] = []
        batches = self._batches
        for i, e in failed:
            tries = batches.tries.get(i.id, 1)
            if isinstance(e, self.retry_on) and tries < self.attempts:
                batches.tries[i.id] = tries + 1
                retry.append(i)
            else:
                batches.given_up.append((i, e))
        if retry:
            attempt = max(batches.tries[i.id] for i in retry) - 1
            self._wait(attempt, f"a batch of {len(retry)}", failed[0][1])
        for index, i in enumerate(retry):
            try:
                self.inner(i)
            except Exception as exc:
                # It refused this one, or a batch went and failed: what failed is retried, or
                # given up (in doubt, out of attempts) and reported by after_flush.
                self._again([(i, exc)] if fails_all(exc) else self._others(exc, None))
            except BaseException as interrupt:  # what it had not handed back stays failed
                stopped = [(j, interrupt) for j in retry[index:]]
                joined(interrupt, BatchDispatchError("retry stopped", errors=stopped))
                raise

    def __call__(self, intent: Intent) -> object:
        attempt = 1
        while True:
            try:
                result = self.inner(intent)
            except self.retry_on as exc:
                named = {i.id for i, _ in getattr(exc, "errors", ()) if i is not None}
                others = self._others(exc, intent)
                batch = bool(named - {intent.id})
                if batch:  # a batch failed in this call: its failed intents are retried
                    self._again(others)
                    if intent.id not in named:  # this one went with the batch
                        self._tally(attempt, ok=True)
                        return None
                if any(i.id == intent.id for i in getattr(exc, "in_doubt", ())):
                    self._tally(attempt, ok=False)  # may have gone: never sent again
                    raise BatchDispatchError(  # in doubt: whoever catches it must not resend
                        f"{self!r}: {intent} is in doubt: {exc}",
                        in_doubt=[intent],
                        errors=[(intent, exc)],
                    ) from exc
                if attempt >= self.attempts:
                    self._tally(attempt, ok=False)
                    if batch:  # name this intent alone: the others are retried or reported later
                        raise DispatchError(
                            f"{self!r} gave up on {intent}: {exc}", [(intent, exc)]
                        ) from exc
                    raise
                self._wait(attempt, intent, exc)
                attempt += 1
            except BaseException:
                self._tally(attempt, ok=False)
                raise
            else:
                self._tally(attempt, ok=True)
                return result

    def _send_batch(self, intents: list[Intent]) -> None:
        """Send a batch, retrying it as a unit: only what failed goes again, never what went
        (or, for a ``BatchDispatchError``, what is in doubt)."""
        todo = intents
        sent: list[Intent] = []
        doubt: list[Intent] = []
        doubt_errors: dict[str, BaseException] = {}
        attempt = 1
        while True:
            try:
                self.inner.send_batch(todo)  # type: ignore[attr-defined]
            except BaseException as exc:
                if not isinstance(exc, self.retry_on):
                    if not isinstance(exc, Exception):  # an interrupt: what went before it went
                        name_unsent(exc, sent, intents)
                    raise
                went, failed, unsure = batch_failures(exc, todo)
                named = named_by(exc)
                doubt_errors.update((i.id, named.get(i.id, exc)) for i in unsure)
                told = {i.id for i in getattr(exc, "unsent", ())}
                not_sent = told if went or told else {i.id for i in todo}
                sent += went
                doubt += unsure
                todo = [i for i, _ in failed]
                if not todo or attempt >= self.attempts:
                    self._tally(attempt, ok=False)
                    raise BatchDispatchError(
                        f"{self!r} gave up on {len(todo)} of a batch of {len(intents)} "
                        f"after {attempt} attempts: {exc}",
                        sent=sent,
                        unsent=[i for i in todo if i.id in not_sent],
                        in_doubt=doubt,
                        errors=[*failed, *((i, doubt_errors[i.id]) for i in doubt)],
                    ) from exc
                self._wait(attempt, f"a batch of {len(todo)}", exc)
                attempt += 1
            else:
                self._tally(attempt, ok=True)
                if doubt:  # what an earlier attempt left in doubt is not sent again: say so
                    raise BatchDispatchError(
                        f"{self!r}: {len(doubt)} of a batch of {len(intents)} in doubt",
                        sent=[*sent, *todo],
                        in_doubt=doubt,
                        errors=[(i, doubt_errors[i.id]) for i in doubt],
                    )
                return

    def after_flush(self) -> None:
        """Forward ``after_flush``; a batch that fails there is retried (what failed of it,
        within the attempts); what is given up is reported in one ``DispatchError``."""
        try:
            while True:
                try:
                    super().after_flush()
                    break
                except Exception as exc:
                    others = self._others(exc, None)
                    if not others:  # nothing to retry: say it, with what was given up before
                        report = self._given_up()
                        if report is None:
                            raise
                        raise joined(exc, report) from exc
                    before = len(self._batches.given_up)
                    self._again(others)
                    if len(self._batches.given_up) - before == len(others):
                        break  # nothing was retried
            report = self._given_up()
            if report is not None:
                raise report
        except Exception:
            raise
        except BaseException as interrupt:  # what it gave up on stays failed
            report = self._given_up()
            if report is not None:
                joined(interrupt, report)
            raise
        finally:
            self._flush.set(None)

    def _given_up(self) -> BatchDispatchError | None:
        # What this flush gave up on, as the error after_flush raises; None if nothing.
        given_up = self._batches.given_up
        if not given_up:
            return None
        report = BatchDispatchError(
            f"{self!r} gave up on {len(given_up)} intent(s) of failed batches: "
            + "; ".join(f"{i} ({type(e).__name__}: {e})" for i, e in given_up),
            in_doubt=self._batches.in_doubt,
            errors=given_up,
        )
        report.__cause__ = given_up[-1][1]
        return report

    def __repr__(self) -> str:
        return f"<with_retry {describe(self.inner)} attempts={self.attempts}>"


def with_retry(
    executor: Executor,
    *,
    attempts: int = 3,
    backoff: float | Callable[[int], float] = 0.1,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    sleep: Callable[[float], object] = time.sleep,
) -> _Retry:
    """Call ``executor`` up to ``attempts`` times; re-raise the last error when giving up.

    ``backoff`` is the first delay in seconds (doubling each time, with 10% jitter, see
    ``exponential_backoff``) or a function ``retry_number -> seconds``. Only exceptions in
    ``retry_on`` are retried; others propagate at once. ``sleep`` is injectable so tests never
    wait. ``.statistics`` counts attempts, retries, successes and give-ups (thread-safe).

    Retrying ``sync_executor`` runs the task body again: only wrap it around work that is
    safe to repeat. Around a queue executor it retries the *send*, not the task.

    Batches: around an executor with ``send_batch`` it has one too, retrying what failed of a
    batch as a unit (never what went or is in doubt). Around a buffering executor
    (``batching``, the ``*_batch_executor``s) a failed batch's intents are handed back to it,
    and those given up on are failed by ``after_flush`` in one ``DispatchError``.
    """
    if attempts < 1:
        raise ValueError(f"with_retry needs attempts >= 1, got {attempts!r}")
    if isinstance(retry_on, type):
        retry_on = (retry_on,)
    if not retry_on or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in retry_on
    ):
        raise TypeError(f"retry_on must be exception classes, got {retry_on!r}")
    schedule = exponential_backoff(float(backoff)) if isinstance(backoff, (int, float)) else backoff
    return _Retry(executor, attempts, schedule, tuple(retry_on), sleep)
