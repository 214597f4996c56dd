"""The dispatch engine: hands intents to executors and settles each one's fate (SPEC 2.6).

``Scope``, ``DjangoScope`` and the outbox relay all send through ``send``; they differ only in
the error mode. *Fail-fast* (a plain ``Scope``): the first error stops the loop, the intents
not yet sent fail with that cause, and ``DispatchError`` names every failed intent. *Isolate*
(``DjangoScope``, the relay): each intent settles on its own and nothing is raised into work
that already committed. In both modes every used executor's ``after_flush()`` is called once,
each guarded, and an interrupt (``KeyboardInterrupt``, ``SystemExit``) is re-raised only after
every intent has its fate.

A fate is reported through the ``Sink`` the caller passes, exactly once per intent:
``dispatched`` when the executor returned (for an executor with ``after_flush()``, when that
returned too: a batch is only sent there), or when the error it raised says the intent went
(a batch sent from its call failed others: the error's ``sent``, or the executor's note on an
interrupt); ``failed`` with the error otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from airlock import _config, _events
from airlock._intent import Intent
from airlock.exceptions import DispatchError
from airlock.typing import Executor

__all__ = [
    "DISPATCHED",
    "FAILED",
    "RESERVED_OPTIONS",
    "Flush",
    "Sink",
    "current_flush",
    "dispatch_error",
    "held",
    "holding",
    "named_errors",
    "resolve",
    "send",
    "went_with",
]

logger = logging.getLogger("airlock")

DISPATCHED, FAILED = _events.DISPATCHED, _events.FAILED

T = TypeVar("T")


class Flush:
    """One ``send`` in progress. An executor that holds intents until its ``after_flush``
    keeps them here (``held``, by executor): a flush nested in another (a task run inline that
    enqueues and flushes) holds, sends and fails only its own."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held: dict[int, Any] = {}

    def of(self, owner: object, make: Callable[[], T] | None = None) -> T | None:
        """What ``owner`` holds in this flush; with ``make``, made on first use."""
        kept = self.held.get(id(owner))
        if kept is None and make is not None:  # setdefault: threads sharing a flush may race
            kept = self.held.setdefault(id(owner), make())
        return kept


_flush: ContextVar[Flush | None] = ContextVar("airlock_flush", default=None)
current_flush = _flush.get


def holding(owner: object, fallback: ContextVar[Any], make: Callable[[], T]) -> T:
    """What ``owner`` holds for the flush in progress, else for this context (``fallback``:
    an executor used outside a flush); made on first use."""
    flush = _flush.get()
    if flush is not None:
        return flush.of(owner, make)  # type: ignore[return-value]
    kept = fallback.get()
    if kept is None:
        kept = make()
        fallback.set(kept)
    return kept  # type: ignore[no-any-return]


def held(owner: object, fallback: ContextVar[Any], *, take: bool = False) -> Any:
    """What ``owner`` holds now (see ``holding``), or None; ``take``: and let go of it."""
    flush = _flush.get()
    if flush is not None:
        return flush.held.pop(id(owner), None) if take else flush.of(owner)
    kept = fallback.get()
    if take and kept is not None:
        fallback.set(None)
    return kept

# airlock's own dispatch options: routing to a named executor, and the outbox's "durable" and
# "ordering_key". They stay on the buffered intent (policies and the outbox read them) but no
# executor sees them, neither in prepare() nor when called.
RESERVED_OPTIONS = ("executor", "durable", "ordering_key")

# An option here sends an intent that has it to that executor in-process, whatever else it
# names (the outbox app routes "ordering_key" to its relay hand-off).
routes: dict[str, Executor] = {}


class Sink(Protocol):
    """Whoever keeps the fates: a scope, or the outbox relay."""

    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        """Record ``intent``'s terminal fate (called once per intent)."""

    def settle_all(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        """Record the same fate for several intents, in order."""


def resolve(intent: Intent, default: Executor) -> tuple[Executor, Intent]:
    """The executor an intent goes to (a named one if its options say so, else ``default``)
    and the intent to pass it: without airlock's own options."""
    options = intent.dispatch_options
    if options and not options.keys().isdisjoint(RESERVED_OPTIONS):
        name = options.get("executor")
        executor = default if name is None else _config.get_named_executor(name)
        for option, route in routes.items():
            if option in options:
                executor = route
        return executor, intent.without_options(*RESERVED_OPTIONS)
    return default, intent


def prepare(intent: Intent, default: Executor, default_prepare: Any) -> Intent:
    """Run the executor's ``prepare`` at enqueue (validation, absolute delays); airlock's own
    options are hidden from it and kept on the returned intent."""
    options = intent.dispatch_options
    name = options.get("executor") if options else None
    hook = default_prepare if name is None else getattr(_config.get_named_executor(name),
                                                        "prepare", None)
    if hook is None:
        return intent
    reserved = {k: options[k] for k in RESERVED_OPTIONS if k in options}
    if not reserved:
        return hook(intent)  # type: ignore[no-any-return]
    prepared: Intent = hook(intent.without_options(*RESERVED_OPTIONS))
    return prepared.replace(dispatch_options={**prepared.dispatch_options, **reserved})


def send(
    intents: Sequence[Intent],
    sink: Sink,
    default: Executor,
    isolate: bool,
    pinned: Mapping[int, Executor] | None = None,
) -> None:
    """Hand each intent to its executor in order, then call ``after_flush()`` once on each
    executor that was called; report each intent's fate to ``sink`` once, in order. ``pinned``
    maps ``id(intent)`` to the executor an intent keeps (captured from a scope with an explicit
    executor). Fail-fast (``isolate=False``) raises ``DispatchError`` when anything failed.
    """
    if not pinned and not hasattr(default, "after_flush"):
        # One executor whose calls are the sends: each fate is known as its call returns.
        done = index = 0  # intents[done:index] went out and are not reported yet
        for intent in intents:
            if intent.dispatch_options:  # may name another executor: the general way
                break
            try:
                default(intent)
            except BaseException as exc:
                sink.settle_all(intents[done:index], DISPATCHED, default)
                sink.settle(intent, FAILED, exc)
                index = done = index + 1
                if isinstance(exc, Exception) and isolate:
                    continue
                rest = intents[done:]
                sink.settle_all(rest, FAILED, exc)
                if not isinstance(exc, Exception):
                    raise
                raise dispatch_error([(intent, exc)] + [(i, exc) for i in rest], rest) from exc
            index += 1
        else:
            sink.settle_all(intents[done:] if done else intents, DISPATCHED, default)
            return
        sink.settle_all(intents[done:index], DISPATCHED, default)
        intents = intents[index:]
    token = _flush.set(Flush())  # what batch executors hold, this flush's own
    try:
        _send_each(intents, sink, default, isolate, pinned)
    finally:
        _flush.reset(token)


def _send_each(
    intents: Sequence[Intent],
    sink: Sink,
    default: Executor,
    isolate: bool,
    pinned: Mapping[int, Executor] | None,
) -> None:
    """``send``'s general way: any executor, pinned ones, ``after_flush``, every error."""
    fates: dict[int, tuple[str, Any]] = {}
    called: dict[int, tuple[Executor, list[Intent]]] = {}  # executor -> intents it holds
    stop: BaseException | None = None  # the error that stopped the loop (fail-fast, interrupt)
    interrupt: BaseException | None = None
    unsent: list[Intent] = []
    named: dict[str, BaseException] = {}  # intent id -> error, from any executor's error
    for intent in intents:
        if stop is not None:
            fates[id(intent)] = (FAILED, stop)
            unsent.append(intent)
            continue
        executor = pinned.get(id(intent), default) if pinned else default
        try:
            executor, prepared = resolve(intent, executor)
        except Exception as exc:  # an unknown executor name (the registry changed)
            fates[id(intent)] = (FAILED, exc)
            if not isolate:
                stop = exc
            continue
        entry = called.get(id(executor))
        if entry is None:
            entry = called[id(executor)] = (executor, [])
        try:
            executor(prepared)
        except BaseException as exc:
            fates[id(intent)] = (FAILED, exc)
            if named_errors(exc, executor) is not None:  # a batch went from this call
                _settle_reported(entry[1], exc, executor, fates)
                if went_with(intent, exc, executor):  # it failed others of the batch, not this one
                    fates[id(intent)] = (DISPATCHED, executor)
            _collect_named(exc, named)
            if not isinstance(exc, Exception):
                interrupt = stop = exc
            elif not isolate:
                stop = exc
            continue
        if hasattr(executor, "after_flush"):
            entry[1].append(intent)  # a batch goes out in after_flush(): its fate waits
        else:
            fates[id(intent)] = (DISPATCHED, executor)
    for executor, waiting in called.values():
        hook = getattr(executor, "after_flush", None)
        if hook is None:
            continue
        try:
            hook()
        except BaseException as exc:
            logger.error("airlock: %r.after_flush() failed: %s", executor, exc)
            _settle_batch(waiting, exc, executor, fates)
            _collect_named(exc, named)
            if not isinstance(exc, Exception):
                interrupt = interrupt or exc
            stop = stop or exc
            continue
        for intent in waiting:
            fates[id(intent)] = (DISPATCHED, executor)
    if named:
        # An executor that sends what another one of this flush handed over (the same batch
        # executor behind two entries) may fail it there: the other's after_flush then finds
        # nothing to send. An intent any error names as failed is failed.
        for intent in intents:
            error = named.get(intent.id)
            if error is not None and fates[id(intent)][0] is DISPATCHED:
                fates[id(intent)] = (FAILED, error)
    failed: list[tuple[Intent, BaseException]] = []
    for intent in intents:
        fate, detail = fates[id(intent)]
        sink.settle(intent, fate, detail)
        if fate is FAILED:
            failed.append((intent, detail))
    if interrupt is not None:
        raise interrupt
    if failed and not isolate:
        raise dispatch_error(failed, unsent) from stop


def _settle_reported(
    waiting: list[Intent],
    exc: BaseException,
    executor: Executor,
    fates: dict[int, tuple[str, Any]],
) -> None:
    # Decide the waiting intents the error speaks of (its ``errors``, and ``sent`` if it has
    # one); the others keep waiting for after_flush().
    errors = {i.id: e for i, e in named_errors(exc, executor) or () if i is not None}
    sent = {i.id for i in getattr(exc, "sent", ())}
    for intent in list(waiting):
        if intent.id in errors:
            fates[id(intent)] = (FAILED, errors[intent.id])
        elif intent.id in sent:
            fates[id(intent)] = (DISPATCHED, executor)
        else:
            continue
        waiting.remove(intent)


def went_with(intent: Intent, exc: BaseException, executor: object) -> bool:
    """Whether a failed batch says ``intent`` went: in its error's ``sent``, or covered by the
    executor's note on an interrupt; and not named failed."""
    note = _unsent(exc, executor)
    known = note.covers if note is not None else {i.id for i in getattr(exc, "sent", ())}
    if intent.id not in known:
        return False
    named = named_errors(exc, executor) or ()
    return not any(i is not None and i.id == intent.id for i, _ in named)


def named_errors(
    exc: BaseException, executor: object = None
) -> Sequence[tuple[Intent | None, BaseException]] | None:
    """The ``(intent, error)`` pairs an error names as failed: a ``DispatchError``'s ``errors``,
    or what ``executor`` itself said on an interrupt it let through (``Unsent``); None for any
    other error (another library's ``errors``, e.g. a method, is not ours to read)."""
    if isinstance(exc, DispatchError):
        return exc.errors
    note = _unsent(exc, executor)
    return None if note is None else note.errors


def _unsent(exc: BaseException, executor: object) -> Any:
    """The ``Unsent`` note ``executor`` put on an interrupt, else None."""
    if isinstance(exc, Exception) or executor is None:
        return None
    note = getattr(exc, "airlock_unsent", None)
    return note if getattr(note, "owner", None) is executor else None


def _collect_named(exc: BaseException, named: dict[str, BaseException]) -> None:
    """Note the intents ``exc`` names as failed (a ``DispatchError``'s, and those of a note on
    it from whichever executor: failing is always safe), then drop the note: said once, read
    once (the same error object may come back in a later flush)."""
    errors = list(exc.errors) if isinstance(exc, DispatchError) else []
    note = vars(exc).pop("airlock_unsent", None) if hasattr(exc, "__dict__") else None
    errors += getattr(note, "errors", ())
    for intent, error in errors:
        if intent is not None:
            named.setdefault(intent.id, error)


def _settle_batch(
    waiting: list[Intent],
    exc: BaseException,
    executor: Executor,
    fates: dict[int, tuple[str, Any]],
) -> None:
    # A DispatchError that names intents failed those (and sent the rest); an interrupt the
    # executor put a note on sent what the note covers and does not name; any other error
    # failed the whole batch.
    note = _unsent(exc, executor)
    if note is not None:
        named = {i.id: e for i, e in note.errors}
        for intent in waiting:
            if intent.id in note.covers and intent.id not in named:
                fates[id(intent)] = (DISPATCHED, executor)
            else:
                fates[id(intent)] = (FAILED, named.get(intent.id, exc))
        return
    errors = {i.id: e for i, e in named_errors(exc) or () if i is not None}
    for intent in waiting:
        if errors and intent.id not in errors:
            fates[id(intent)] = (DISPATCHED, executor)
        else:
            fates[id(intent)] = (FAILED, errors.get(intent.id, exc))


def dispatch_error(
    failed: Sequence[tuple[Intent, BaseException]], unsent: Sequence[Intent] = ()
) -> DispatchError:
    """A ``DispatchError`` whose message names each failed intent and each one not sent."""
    not_sent = {i.id for i in unsent}
    raised = [f"{i} ({type(e).__name__}: {e})" for i, e in failed if i.id not in not_sent]
    parts = [f"{len(raised)} failed: " + "; ".join(raised)] if raised else []
    if unsent:
        parts.append(f"{len(unsent)} not sent: " + ", ".join(str(i) for i in unsent))
    return DispatchError("dispatch failed: " + "; ".join(parts), failed, unsent=unsent)
