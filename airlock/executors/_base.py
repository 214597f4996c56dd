"""What every wrapper shares: forwarding ``prepare``, ``after_flush``, ``close``, ``send_batch``
and the options an executor knows; guarding user callbacks."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import BatchDispatchError, UnknownOptionError
from airlock.executors._unsent import Hook, adopt_unsent, call_hooks, name_unsent
from airlock.typing import Executor, ExecutorWithHooks

logger = logging.getLogger("airlock.executors")

__all__ = [
    "Group",
    "Wrapper",
    "buffers",
    "check_options",
    "describe",
    "guarded",
    "known_options",
    "only_known",
    "prepare_with",
    "refuse_shared_holder",
    "send_each",
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
