"""What a failed or interrupted send says went and did not, and one error for several.

A batch publisher that lets an interrupt (``KeyboardInterrupt``, ``SystemExit``) through notes on
it what it had not surely sent (``Unsent``, as ``airlock_unsent``: ``name_unsent``,
``naming_unsent``); a wrapper that hands a batch on speaks for it (``adopt_unsent``,
``speak_for``); the hooks of several executors are each called and their errors joined into one
that loses no intent either names (``hook_errors``, ``call_hooks``, ``finish_hooks``,
``joined``). The dispatch engine reads the note (``_dispatch``). ``_base`` holds the rest of
what the wrappers share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeAlias

from airlock._dispatch import named_errors
from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, DispatchError

#: The hooks ``call_hooks`` calls (``prepare`` takes an intent: ``prepare_with`` calls it).
Hook: TypeAlias = Literal["after_flush", "close"]

__all__ = [
    "NOBODY",
    "Hook",
    "Unsent",
    "adopt_unsent",
    "batch_failures",
    "call_hooks",
    "fails_all",
    "finish_hooks",
    "hook_errors",
    "joined",
    "name_unsent",
    "named_by",
    "naming_unsent",
    "speak_for",
    "unique",
    "unsent_after",
]


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
