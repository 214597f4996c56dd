"""Scope: the buffer that holds intents until the unit of work decides their fate.

A scope's state runs new -> active (entered) -> exited -> flushed or discarded. While active it
is the context value ``enqueue`` finds (see ``_context``); an inner scope that flushes offers
its intents to the active scopes around it, and whatever they do not hand back they capture.
What it holds and how an intent enters the buffer is ``_buffer``'s; sending and fates are the
dispatch engine's (``_dispatch``). A new scope allocates nothing until something is enqueued
into it: every field starts as a class-level default.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any

from airlock import _config, _dispatch, _events, _judging
from airlock._buffer import Buffer
from airlock._context import Value, current, exit_by_exit, inherited_policies, scope_of
from airlock._core import ACTIVE, COMPILED, DISCARDED, EXITED, FLUSHED, NEW
from airlock._intent import Intent
from airlock.exceptions import ScopeStateError
from airlock.policies import AllowAll
from airlock.typing import Executor, Policy

__all__ = ["FRESH", "Scope"]

logger = logging.getLogger("airlock")

_EXIT_STEPS = ("exit", "should_flush", "flush", "dispatch", "executor")
_NEW, _ACTIVE, _EXITED, _FLUSHED, _DISCARDED = NEW, ACTIVE, EXITED, FLUSHED, DISCARDED
_ALLOW_ALL = AllowAll()


def _watches(policy: Policy) -> bool:
    """True when a policy's ``on_enqueue`` does something (not the protocol's no-op default)."""
    # getattr on the type: a duck-typed policy may carry its methods on the instance.
    return type(policy) is not AllowAll and (
        getattr(type(policy), "on_enqueue", None) is not Policy.on_enqueue
    )


class _Fresh:
    """``_direct`` of a scope ``airlock.scope()`` made with no arguments, until it is entered:
    ``enter()`` then skips the checks a fresh scope with the defaults passes. Never current, so
    ``enqueue`` never reaches it."""

    def append(self, intent: Intent) -> Intent | None:
        raise ScopeStateError("cannot enqueue into a scope that was never entered")


FRESH = _Fresh()


class Scope(Buffer):
    """Buffers intents; at the end of the unit of work, flushes (dispatches) or discards them.

    Use it through ``airlock.scope()`` / ``@airlock.scoped()`` or as a context manager. Override
    points: ``should_flush(error)``, ``before_descendant_flushes(exiting_scope, intents)``,
    ``dispatch(intents)``, and ``on_buffered(intent)`` (called as an intent enters the buffer;
    raising refuses it). A plain ``Scope`` fails fast: the first dispatch error stops the flush
    and ``DispatchError`` names what failed. One scope belongs to one unit of work.
    """

    # Every field starts as a class default, so building and entering a scope allocates
    # nothing but the object; lists and dicts appear when first needed.
    _parent: Scope | None = None
    _pinned: dict[int, Executor] | None = None
    _isolate = False
    """Error mode: False fails fast (raise ``DispatchError``), True settles each intent alone."""
    _simple = True
    """The class overrides none of exit(), should_flush(), flush(), dispatch() and executor,
    does not isolate and has no policy of its own: ``airlock.scope()`` marks its new scopes
    ``FRESH`` and they may take the plain way. Worked out in ``__init_subclass__``."""
    _policy: Policy = _ALLOW_ALL

    bare_init = True
    """True when ``__init__`` called with no arguments leaves every field at its class default,
    so ``airlock.scope()`` may build the scope without calling it. A subclass that overrides
    ``__init__`` gets False unless it sets True itself (as ``DjangoScope`` does)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__ and "bare_init" not in cls.__dict__:
            cls.bare_init = False
        # A class that overrides a step of the exit, its executor, or isolates, never takes
        # the plain way (see _simple); one that overrides enter() or exit() gets the __enter__ /
        # __exit__ that call them, unless it writes (or inherits) its own.
        policy = cls.__dict__.get("policy")
        if policy is not None and not isinstance(policy, property):  # ``policy = ...`` in a body
            cls._policy = _config.resolve_policy(policy)
            del cls.policy
        cls._simple = not cls._isolate and cls._policy is _ALLOW_ALL and all(
            getattr(cls, name) is getattr(Scope, name) for name in _EXIT_STEPS
        )
        if cls.enter is not Scope.enter and cls.__enter__ is Scope.__enter__:
            cls.__enter__ = Scope._enter_by_method
        if cls.exit is not Scope.exit and cls.__exit__ is Scope.__exit__:
            cls.__exit__ = Scope._exit_by_method  # type: ignore[method-assign]
        if cls._hooked is not None and cls.append is Scope.append:
            cls.append = Scope._append_hooked  # type: ignore[method-assign]
        if cls.append not in (Scope.append, Scope._append_hooked):
            raise TypeError(
                f"{cls.__name__} has a method append(), the name Scope keeps for enqueue's "
                "direct path; give it another name (override on_buffered() to see each intent)"
            )

    def __init__(self, policy: Policy | None = None, *, executor: Executor | None = None) -> None:
        if policy is not None:
            self._policy = _config.resolve_policy(policy)
        if executor is not None:
            self._executor = _config.resolve_executor(executor)

    # -- what it holds -------------------------------------------------------------------------
    @property
    def policy(self) -> Policy:
        """The scope's own policy (default: ``AllowAll()``). Set it before the scope flushes;
        a policy's ``on_enqueue`` sees the intents enqueued once it is set when entering."""
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        self._plain = False  # the flush has a policy to ask
        if self._direct is FRESH:
            self._direct = None  # enter() must link it

    @property
    def executor(self) -> Executor:
        """The scope's executor: the one given, else the configured one (``sync_executor`` by
        default) as it was when the scope first buffered an intent."""
        executor = self._executor
        if executor is None:  # not ``or``: a falsy executor object is still the executor
            executor = self._default
            if executor is None:
                executor = self._default = _config.resolved_executor()[0]
                if self._direct is self:  # fixed now: append() must not fix it again
                    self._direct = None
        return executor

    @property
    def is_active(self) -> bool:
        """Entered and not yet exited."""
        return self._state is _ACTIVE

    @property
    def is_flushed(self) -> bool:
        return self._state is _FLUSHED

    @property
    def is_discarded(self) -> bool:
        return self._state is _DISCARDED

    @property
    def parent(self) -> Scope | None:
        """The scope that was current when this one was entered."""
        return self._parent

    def ancestors(self) -> Iterator[Scope]:
        """Enclosing scopes that are still active, innermost first (finished ones are skipped)."""
        scope = self._parent
        while scope is not None:
            if scope._state is _ACTIVE:
                yield scope
            scope = scope._parent

    # -- lifecycle -----------------------------------------------------------------------------
    def enter(self) -> Scope:
        """Make this the current scope of this context."""
        if self._direct is FRESH:  # made by airlock.scope() with no arguments, not entered
            prior = _get()
            if prior is None:  # nothing to link (FRESH: the default policy)
                self._plain = True
                self._direct = self  # the first intent comes direct: append() below
            else:
                self._direct = None
                self._link(prior)
        else:
            if self._state is not _NEW:
                raise ScopeStateError(f"{self!r} was already entered; create a new scope instead")
            prior = _get()
            if prior is not None or self._policy is not _ALLOW_ALL:
                self._link(prior)
        self._state = _ACTIVE
        self._token = _set(self)
        return self

    def _enter_under(self, prior: Value) -> None:
        # Become active below ``prior`` without becoming the context value (LazyScope).
        if self._state is not _NEW:
            raise ScopeStateError(f"{self!r} was already entered; create a new scope instead")
        self._direct = None  # not FRESH: its first intent comes through _enqueue
        self._link(prior)
        self._state = _ACTIVE

    def _link(self, prior: Value) -> None:
        # The parent, the local policies in force, and the policies that watch each enqueue.
        watchers: tuple[Scope, ...] = ()
        if prior is not None:
            self._prior = prior
            self._parent = parent = scope_of(prior)
            self._inherited = inherited_policies(prior)
            if parent is not None:
                watchers = parent._watchers
        if _watches(self._policy):
            watchers = (self, *watchers)
        if watchers:
            self._watchers = watchers

    def exit(self) -> None:
        """Stop being current. Does not flush or discard: call ``flush()`` or ``discard()``."""
        self._exit_in_place()
        try:
            _reset(self._token)
        except (ValueError, RuntimeError):
            # Exited from another context than the one it was entered in (another task or
            # thread): step out only where we are current; that context's own scope stays.
            if _get() is self:
                _set(self._prior)

    def _exit_in_place(self) -> None:
        if self._state is not _ACTIVE:
            raise ScopeStateError(f"{self!r} is not active; exit() goes with one enter()")
        self._state = _EXITED
        self._direct = None

    def should_flush(self, error: BaseException | None) -> bool:
        """Called on exit: True to flush, False to discard. Default: flush unless an error."""
        return error is None

    def before_descendant_flushes(
        self, exiting_scope: Scope, intents: list[Intent]
    ) -> list[Intent]:
        """Return the intents a flushing descendant may dispatch itself; the rest are captured.

        The default returns ``[]``: the outermost scope decides everything.
        """
        return []

    def _keeps_from(self, ancestor: Scope, intents: list[Intent]) -> set[int] | None:
        """Ids of the intents this flushing scope must send itself rather than offer to
        ``ancestor`` (a ``DjangoScope`` keeps what waits for a transaction from a scope that
        cannot follow transactions). Default: none."""
        return None

    # -- flush / discard -----------------------------------------------------------------------
    def _finishing(self, what: str) -> list[Intent]:
        if self._state is not _EXITED:
            if self._state is _ACTIVE:
                raise ScopeStateError(f"cannot {what} {self!r} while it is active; exit() it first")
            if self._state is _NEW:
                raise ScopeStateError(f"cannot {what} {self!r}: it was never entered")
            raise ScopeStateError(f"cannot {what} {self!r}: it is already {self._state}")
        self._state = _FLUSHED if what == "flush" else _DISCARDED
        self._keys = None
        return self._buffer or []

    def flush(self) -> list[Intent]:
        """Apply policies and dispatch the survivors, FIFO; returns what this scope released.

        Nested: intents that pass this scope's policy are offered to each active ancestor
        (``before_descendant_flushes``); whatever an ancestor does not hand back it captures.
        A policy or hook that raises fails the intents it was judging. On a plain Scope the
        first error stops the flush and raises ``DispatchError`` (the scope is still flushed).
        """
        intents = self._finishing("flush")
        if intents and self._judges(intents):
            intents = _judging.survivors(self, intents)
        if intents:
            self.dispatch(intents)
        return intents

    def _judges(self, intents: list[Intent]) -> bool:
        """True when a flush must ask policies about ``intents``: this scope's own, an
        enclosing scope's, or the local ones an intent carries."""
        if self._policy is not _ALLOW_ALL or self._parent is not None:
            return True
        for intent in intents:  # noqa: SIM110 - a plain loop: no generator per flush
            if intent.local_policies:
                return True
        return False

    def discard(self) -> list[Intent]:
        """Drop everything buffered; returns the discarded intents."""
        discarded = self._finishing("discard")
        for intent in discarded:
            self.settle(intent, _events.DISCARDED, None)
        return list(discarded)

    def executor_for(self, intent: Intent) -> tuple[Executor, Intent]:
        """The executor for an intent (its pinned or named one, else the scope's) and what to
        pass it."""
        pinned = self._pinned.get(id(intent)) if self._pinned else None
        return _dispatch.resolve(intent, pinned or self.executor)

    def dispatch(self, intents: list[Intent]) -> None:
        """Hand each intent to its executor in order, then call ``after_flush()`` once on each
        executor used. Fail-fast on a plain Scope (``DispatchError``); see ``_dispatch``."""
        _dispatch.send(intents, self, self.executor, self._isolate, self._pinned)

    # -- context manager -----------------------------------------------------------------------
    if not COMPILED:  # else Core's, in C: the same, calling _link / enter / exit / _after_exit
        __enter__ = enter

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            # exit(), inlined: this runs for every scope.
            if self._state is not _ACTIVE:
                self.exit()  # raises the state error
            try:
                _reset(self._token)
            except (ValueError, RuntimeError):
                if _get() is self:  # exited from another context: see exit()
                    _set(self._prior)
            self._direct = None
            self._after_exit(exc)

    def _after_exit(self, exc: BaseException | None) -> None:
        # The rest of ``__exit__``, once this scope stopped being current.
        if exc is None:
            intents = self._buffer
            if self._plain:  # a simple class, nothing to judge: flush() and dispatch(), inlined
                self._state = _FLUSHED
                if intents is not None:
                    _dispatch.send(intents, self, self._default, False, None)  # type: ignore[arg-type]
                return
            if intents is None and type(self).should_flush is _should_flush:
                self._state = _FLUSHED  # nothing was buffered: nothing to decide
                return
        self._state = _EXITED
        self._finish(exc)  # should_flush(error), then flush() or discard()

    def _enter_by_method(self) -> Scope:
        return self.enter()

    def _exit_by_method(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exit()
        self._finish(exc)

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    __aexit__ = exit_by_exit

    def _finish(self, error: BaseException | None) -> None:
        _judging.finish(self, error)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state} intents={len(self._buffer or ())} "
            f"policy={self._policy!r}>"
        )


_should_flush = Scope.should_flush
if COMPILED:
    from airlock import _speedups

    _speedups.setup(current, _NEW, _ACTIVE, _FLUSHED, FRESH)
_get, _set, _reset = current.get, current.set, current.reset
