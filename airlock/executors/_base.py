"""What every wrapper shares: forwarding ``prepare``, ``after_flush``, ``close``, ``send_batch``
and the options an executor knows; guarding user callbacks."""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeAlias

from airlock._dispatch import named_errors
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, DispatchError, UnknownOptionError
from airlock.typing import Executor, ExecutorWithHooks

logger = logging.getLogger("airlock.executors")

#: The hooks ``call_hooks`` calls (``prepare`` takes an intent: ``prepare_with`` calls it).
Hook: TypeAlias = Literal["after_flush", "close"]

__all__ = [
    "Group",
    "Unsent",
    "Wrapper",
    "adopt_unsent",
    "batch_failures",
    "buffers",
    "call_hooks",
    "check_options",
    "describe",
    "finish_hooks",
    "guarded",
    "hook_errors",
    "known_options",
    "name_unsent",
    "named_by",
    "naming_unsent",
    "only_known",
    "prepare_with",
    "refuse_shared_holder",
    "send_each",
    "speak_for",
    "unique",
    "unsent_after",
]


def guarded(callback: Callable[..., object] | None, what: str, *args: Any) -> None:
    """Call a user callback (metrics, listeners); an error it raises is logged, never raised.

    A callback's failure must not change what was sent nor wedge the wrapper that calls it.
    """
    if callback is None:
        return
    try:
        callback(*args)
    except Exception:
        logger.exception("airlock: %s %r raised; ignored", what, callback)


def known_options(executor: Any) -> frozenset[str] | None:
    """The dispatch options ``executor`` declares it understands (its ``known_options``), or
    ``None`` when it does not say (then it is given every option)."""
    known = getattr(executor, "known_options", None)
    return None if known is None else frozenset(known)


def only_known(executor: Any, intent: Intent) -> Intent:
    """``intent`` without the dispatch options ``executor`` does not know (it declares them)."""
    known = known_options(executor)
    if known is None or not intent.dispatch_options:
        return intent
    extra = [k for k in intent.dispatch_options if k not in known]
    return intent.without_options(*extra) if extra else intent


def batch_failures(
    exc: BaseException, batch: Sequence[Intent]
) -> tuple[list[Intent], list[tuple[Intent, BaseException]], list[Intent]]:
    """What a failed ``send_batch(batch)`` says: ``(sent, failed, in_doubt)``.

    A ``DispatchError`` naming intents failed those (a ``BatchDispatchError``'s ``in_doubt``
    ones apart: they may have gone); the others of the batch went. Any other error failed the
    whole batch.
    """
    if not isinstance(exc, DispatchError):
        return [], [(i, exc) for i in batch], []
    named = named_by(exc)
    if not named:
        return [], [(i, exc) for i in batch], []
    doubt = {i.id for i in exc.in_doubt} if isinstance(exc, BatchDispatchError) else set()
    sent = [i for i in batch if i.id not in named]
    failed = [(i, named[i.id]) for i in batch if i.id in named and i.id not in doubt]
    return sent, failed, [i for i in batch if i.id in doubt]


#: The owner of an ``Unsent`` note no executor may vouch with: it still names what failed.
NOBODY: Any = object()


class Unsent:
    """What a batch publisher says on an interrupt (``KeyboardInterrupt``, ``SystemExit``) it
    lets through, as its ``airlock_unsent`` attribute: the intents it had not surely sent
    (``errors``, as a ``DispatchError``'s), out of those it knew of (``covers``, by id), and
    the executor that spoke for its whole batch (``owner``; None while an inner step speaks).
    The dispatch engine trusts it only from the executor it called, then removes it."""

    __slots__ = ("covers", "errors", "owner")

    def __init__(self) -> None:
        self.covers: set[str] = set()
        self.errors: list[tuple[Intent, BaseException]] = []
        self.owner: object = None


def name_unsent(
    interrupt: BaseException,
    sent: Sequence[Intent],
    intents: Sequence[Intent],
    later: Sequence[Intent] = (),
    owner: object = None,
    went: Sequence[Intent] = (),
) -> None:
    """Say on ``interrupt`` which intents did not surely reach the broker: those of ``intents``
    not in ``sent``, then ``later``. What an inner step said about all of ``intents`` (its
    chunks) stands; one that saw only part of them, or an earlier flush's, is replaced. The
    executor the engine called passes itself as ``owner``, and what it sent before in the same
    flush as ``went``: the note speaks for those too (the engine fails what it does not cover)."""
    note: Unsent | None = getattr(interrupt, "airlock_unsent", None)
    ids = {i.id for i in intents}
    if note is None or note.owner is not None or not ids <= note.covers:
        gone = {i.id for i in sent}
        before = note.errors if note is not None else []
        note = Unsent()
        note.errors = [(i, interrupt) for i in intents if i.id not in gone]
        named = {i.id for i, _ in note.errors}
        note.errors += [(i, e) for i, e in before if i.id not in named]  # what it named stays
    note.errors += [(i, interrupt) for i in later]
    note.covers |= ids | {i.id for i in later} | {i.id for i in went}
    note.owner = owner
    interrupt.airlock_unsent = note  # type: ignore[attr-defined]


def adopt_unsent(interrupt: BaseException, inner: object, outer: object) -> None:
    """A wrapper that hands its whole batch to ``inner`` and nothing else speaks for what
    ``inner`` said on ``interrupt``, as ``outer`` (the executor the engine called)."""
    note: Unsent | None = getattr(interrupt, "airlock_unsent", None)
    if note is not None and note.owner is inner:
        note.owner = outer


@contextlib.contextmanager
def naming_unsent(sent: Sequence[Intent], intents: Sequence[Intent]) -> Iterator[None]:
    """Around a batch publisher's loop: an interrupt escaping it names the intents of
    ``intents`` not in ``sent`` (``sent`` as it stands then; see ``name_unsent``)."""
    try:
        yield
    except Exception:
        raise
    except BaseException as exc:
        name_unsent(exc, sent, intents)
        raise


def send_each(executor: Any, batch: Sequence[Intent]) -> None:
    """Hand ``batch`` to ``executor``: its ``send_batch`` when it has one, else one by one.

    One by one stops at the first error: ``BatchDispatchError`` with what was ``sent``, the
    failed intent and the ``unsent`` rest.
    """
    send_batch = getattr(executor, "send_batch", None)
    if send_batch is not None:
        send_batch(list(batch))
        return
    for done, intent in enumerate(batch):
        try:
            executor(intent)
        except Exception as exc:
            rest = list(batch[done + 1 :])
            doubt = [i for i in getattr(exc, "in_doubt", ()) if i.id == intent.id]
            raise BatchDispatchError(
                f"{describe(executor)} failed for {intent} ({type(exc).__name__}: {exc}); "
                f"{len(rest)} more not sent",
                sent=batch[:done],
                unsent=rest,
                in_doubt=doubt,  # it may have gone: whoever catches this must not resend it
                errors=[(intent, exc), *((i, exc) for i in rest)],
            ) from exc
        except BaseException as exc:  # an interrupt: the ones before it went
            name_unsent(exc, batch[:done], batch)
            raise


def buffers(executor: Any) -> bool:
    """Whether ``executor`` holds intents past its call, to send them in ``after_flush``: a
    ``batching()``, a batched executor, or a wrapper with one inside (its ``buffers``)."""
    return getattr(executor, "buffers", False) is True


def _holders(executor: Any) -> dict[int, Any]:
    """The executors inside ``executor`` (itself included) that hold intents until
    ``after_flush``, by id: a ``batching()``, a batched executor."""
    if not buffers(executor):
        return {}
    derived = isinstance(getattr(type(executor), "buffers", None), property)  # a wrapper's
    found = {} if derived else {id(executor): executor}
    inner = getattr(executor, "inner", None)
    parts = [inner] if inner is not None else [
        *getattr(executor, "executors", ()),
        *getattr(executor, "table", {}).values(),
        getattr(executor, "default", None),
    ]
    for part in parts:
        if part is not None:
            found.update(_holders(part))
    return found


def refuse_shared_holder(executors: Sequence[Any], what: str, parts: str, why: str) -> None:
    """Raise ``TypeError`` when one executor that holds intents until ``after_flush`` is
    reached from two of ``executors`` (``parts``: "levels", "members"): what it holds for
    one could not be told from what it holds for the other."""
    seen: dict[int, int] = {}
    for position, executor in enumerate(executors):
        for key, holder in _holders(executor).items():
            if seen.setdefault(key, position) != position:
                raise TypeError(
                    f"{what}: {describe(holder)} holds intents until after_flush and is reached "
                    f"from {parts} {seen[key] + 1} and {position + 1}: {why}"
                )


def describe(executor: Any) -> str:
    """A short readable name for an executor in messages and reprs."""
    name = getattr(executor, "__qualname__", None) or getattr(executor, "__name__", None)
    if isinstance(name, str):
        return name
    if getattr(type(executor), "__repr__", None) is object.__repr__:  # "<Cls object at 0x..>"
        return type(executor).__qualname__
    return repr(executor)


def prepare_with(executor: Any, intent: Intent) -> Intent:
    """``executor.prepare(intent)`` when it has one, else the intent unchanged.

    An executor without ``prepare`` that declares ``known_options`` still refuses an option it
    does not know (``UnknownOptionError``).
    """
    prepare = getattr(executor, "prepare", None)
    if prepare is not None:
        return prepare(intent)  # type: ignore[no-any-return]
    known = known_options(executor)
    if known is not None and intent.dispatch_options:
        check_options(str(intent), f"{describe(executor)} dispatch", intent.dispatch_options, known)
    return intent


def check_options(where: str, what: str, given: Iterable[str], known: Collection[str]) -> None:
    """Raise ``UnknownOptionError`` naming each of ``given`` that is not in ``known``.

    ``where`` starts the message (the intent, or the factory called); ``what`` names the kind of
    option, e.g. ``"huey dispatch"``. Every executor that checks its options calls this. A
    close match of a misspelt name is suggested (``'prioritty' (did you mean 'priority'?)``).
    """
    unknown = [name for name in given if name not in known]
    if unknown:
        suggestions = {}
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1) if known else []
            if close:
                suggestions[name] = close[0]
        names = ", ".join(
            repr(name) + (f" (did you mean {suggestions[name]!r}?)" if name in suggestions else "")
            for name in sorted(unknown)
        )
        takes = f"known: {', '.join(sorted(known))}" if known else "it takes no dispatch options"
        raise UnknownOptionError(
            f"{where}: unknown {what} option{'s' if len(unknown) > 1 else ''} {names}; {takes}",
            unknown=unknown,
            known=known,
            suggestions=suggestions,
        )


def unique(executors: Iterable[Any]) -> list[Any]:
    """The executors without repeats (by identity), in order."""
    seen: list[Any] = []
    for executor in executors:
        if not any(executor is s for s in seen):
            seen.append(executor)
    return seen


def hook_errors(executors: Iterable[Any], hook: Hook) -> list[tuple[Any, BaseException]]:
    """Call ``hook()`` on each executor that has it, each once, every one even when one
    raises (one inner executor failing to send its batch must not stop the others); what
    they raised, with who raised it."""
    errors: list[tuple[Any, BaseException]] = []
    for executor in unique(executors):
        method = getattr(executor, hook, None)
        if method is None:
            continue
        try:
            method()
        except BaseException as exc:
            errors.append((executor, exc))
    return errors


def call_hooks(executors: Iterable[Any], hook: Hook) -> None:
    """Call ``hook()`` on each executor that has it (``hook_errors``); what they raise is
    raised as one error (``joined``: an interrupt wins)."""
    finish_hooks(None, executors, hook)


def finish_hooks(
    owner: object,
    executors: Iterable[Any],
    hook: Hook,
    held_by: Callable[[Any], Iterable[Intent]] = lambda executor: (),
    took: Collection[str] = (),
    later: Iterable[BaseException] = (),
) -> None:
    """``call_hooks`` for a wrapper that kept, per flush, the intents it ``took`` (by id) and
    which of them each executor held (``held_by``): errors from the hooks, then ``later``
    ones, are raised as one; on an interrupt, ``owner`` speaks for what it took (``speak_for``),
    failing what a hook's error leaves unsent (``unsent_after``)."""
    first: BaseException | None = None
    unsent: list[tuple[Intent, BaseException]] = []
    for executor, exc in hook_errors(executors, hook):
        unsent += unsent_after(executor, exc, held_by(executor))
        first = exc if first is None else joined(first, exc)
    for error in later:
        first = error if first is None else joined(first, error)
    if first is None:
        return
    if not isinstance(first, Exception) and took:
        speak_for(first, owner, set(took), unsent)
    raise first


def joined(first: BaseException, second: BaseException) -> BaseException:
    """One error for two raised by one step, losing no intent either names as failed.

    An interrupt wins; an error that names no intent (it failed everything) wins next; the
    winner carries in a note (made if it has none) what the other named, in its ``errors`` or
    its own note. A note stops saying what went (no executor may vouch with it) when the other
    failed everything or is an interrupt with no note. Two errors that both name intents
    become one ``BatchDispatchError`` naming what either names.
    """
    for error, other in ((first, second), (second, first)):
        if not isinstance(error, Exception):
            silent = not isinstance(other, Exception) and _note(other) is None
            _carry(error, other, untrust=fails_all(other) if isinstance(other, Exception)
                   else silent)
            return error
    for error, other in ((first, second), (second, first)):
        if fails_all(error):
            _carry(error, other, untrust=False)
            return error
    assert isinstance(first, DispatchError) and isinstance(second, DispatchError)
    both = BatchDispatchError(
        f"{first}; and {second}",
        sent=[i for e in (first, second) for i in getattr(e, "sent", ())],
        unsent=[*first.unsent, *second.unsent],
        in_doubt=[i for e in (first, second) for i in getattr(e, "in_doubt", ())],
        errors=[*first.errors, *second.errors],
    )
    for error in (first, second):
        _carry(both, error, untrust=False, errors_too=False)
    return both


def _note(error: BaseException) -> Unsent | None:
    return getattr(error, "airlock_unsent", None)


def _carry(winner: BaseException, other: BaseException, untrust: bool,
           errors_too: bool = True) -> None:
    """Put on ``winner``'s note what ``other`` names failed (its ``errors``, its note's)."""
    said = [*((named_errors(other) or ()) if errors_too else ()),
            *getattr(_note(other), "errors", ())]
    if not said and not untrust:
        return
    note = _note(winner)
    if note is None:
        note = winner.airlock_unsent = Unsent()  # type: ignore[attr-defined]
        note.owner = NOBODY
    note.errors += [(i, e) for i, e in said if i is not None]
    if untrust:
        note.owner, note.covers = NOBODY, set()


def unsent_after(
    executor: object, error: BaseException, held: Iterable[Intent]
) -> list[tuple[Intent, BaseException]]:
    """Of the intents ``held`` (``executor`` held them until its hook), those the hook's
    ``error`` leaves unsent: none for an error that names the failed ones (they are named);
    all for one that fails everything, or an interrupt, unless the executor's note on it
    says which went."""
    note = _note(error)
    if isinstance(error, Exception):
        if not fails_all(error):
            return []
        note = None
    elif note is not None and note.owner is not executor:
        note = None
    named = {i.id: e for i, e in note.errors} if note is not None else {}
    return [
        (intent, named.get(intent.id, error))
        for intent in held
        if note is None or intent.id in named or intent.id not in note.covers
    ]


def speak_for(
    interrupt: BaseException,
    owner: object,
    took: set[str],
    unsent: list[tuple[Intent, BaseException]],
    said: Iterable[tuple[Intent | None, BaseException]] = (),
) -> None:
    """Put on ``interrupt`` what ``owner`` (a wrapper the engine may call) knows of a flush:
    it took the intents ``took`` (by id), and of them ``unsent`` did not surely go; what an
    earlier note on it, or ``said``, names failed stays failed. The engine then fails only
    those, and reports the other intents it took dispatched."""
    before = _note(interrupt)
    note = Unsent()
    note.owner = owner
    note.errors = list(unsent)
    named = {i.id for i, _ in note.errors}
    for intent, error in [*(before.errors if before is not None else ()), *said]:
        if intent is not None and intent.id not in named:
            named.add(intent.id)
            note.errors.append((intent, error))
    note.covers = took | named
    interrupt.airlock_unsent = note  # type: ignore[attr-defined]


def named_by(exc: BaseException) -> dict[str, BaseException]:
    """The intents a ``DispatchError`` names as failed, by id (none for any other error)."""
    if not isinstance(exc, DispatchError):
        return {}
    return {i.id: e for i, e in exc.errors if i is not None}


def fails_all(error: BaseException) -> bool:
    """True when ``error`` fails a whole batch: it names no intent (see ``batch_failures``)."""
    return not isinstance(error, DispatchError) or not any(i is not None for i, _ in error.errors)


class Wrapper(ExecutorWithHooks):
    """Base of the single-executor wrappers: forwards the optional executor methods.

    Subclasses implement ``__call__``. ``inner`` is the wrapped executor. When it has
    ``send_batch(intents)`` the wrapper has one too (``_send_batch``: by default forwarded;
    subclasses apply themselves to the batch as a unit), so ``batching`` around it still sends
    whole batches.
    """

    send_batch: Callable[[list[Intent]], object]
    batch_capable = True  # False: never offer send_batch (batching itself)

    def __init__(self, executor: Executor) -> None:
        if not callable(executor):
            raise TypeError(
                f"{executor!r} is not an executor: an executor is a callable executor(intent)"
            )
        self.inner = executor
        if self.batch_capable and getattr(executor, "send_batch", None) is not None:
            self.send_batch = self._send_batch

    def _send_batch(self, intents: list[Intent]) -> object:
        """One batch to the inner executor's ``send_batch``."""
        return self.inner.send_batch(intents)  # type: ignore[attr-defined]

    @property
    def known_options(self) -> frozenset[str] | None:
        """The options the wrapped executor knows (``None``: it does not say)."""
        return known_options(self.inner)

    @property
    def buffers(self) -> bool:
        """Whether the wrapped executor holds intents until ``after_flush``."""
        return buffers(self.inner)

    def prepare(self, intent: Intent) -> Intent:
        """Forwarded to the wrapped executor (validation and delays happen at enqueue)."""
        return prepare_with(self.inner, intent)

    def after_flush(self) -> None:
        """Forwarded to the wrapped executor."""
        self._forward("after_flush")

    def close(self) -> None:
        """Forwarded to the wrapped executor."""
        self._forward("close")

    def _forward(self, hook: Hook) -> None:
        try:
            call_hooks([self.inner], hook)
        except BaseException as exc:
            adopt_unsent(exc, self.inner, self)  # what it said on an interrupt, as ours
            raise

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
        self.what = what

    @property
    def buffers(self) -> bool:
        """Whether one of the executors holds intents until ``after_flush``."""
        return any(buffers(e) for e in self.executors)

    @property
    def known_options(self) -> frozenset[str] | None:
        """Every option one of the executors knows; ``None`` when one of them does not say."""
        union: set[str] = set()
        for executor in self.executors:
            known = known_options(executor)
            if known is None:
                return None
            union |= known
        return frozenset(union)

    def prepare(self, intent: Intent) -> Intent:
        """Every executor's ``prepare`` in turn, each seeing only the options it knows:
        arguments any of them rejects fail at enqueue, and so does an option none knows."""
        known = self.known_options
        if known is not None:
            check_options(str(intent), self.what, intent.dispatch_options, known)
        for executor in self.executors:
            mine = only_known(executor, intent)
            prepared = prepare_with(executor, mine)
            if mine is intent:
                intent = prepared
            else:  # keep the options hidden from it, take what its prepare made of the others
                options = intent.dispatch_options
                hidden = {k: v for k, v in options.items() if k not in mine.dispatch_options}
                intent = prepared.replace(dispatch_options={**hidden, **prepared.dispatch_options})
        return intent

    def after_flush(self) -> None:
        """Forwarded to every executor."""
        call_hooks(self.executors, "after_flush")

    def close(self) -> None:
        """Forwarded to every executor."""
        call_hooks(self.executors, "close")
