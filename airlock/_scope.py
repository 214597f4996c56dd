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
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from airlock import _config, _dispatch, _events, _judging
from airlock._buffer import Buffer, on_buffered_default
from airlock._context import Value, current, exit_by_exit, guard, inherited_policies, scope_of
from airlock._intent import EMPTY_OPTIONS, Intent, build, read_only
from airlock.exceptions import ScopeStateError
from airlock.policies import AllowAll
from airlock.typing import Executor, Policy

__all__ = ["Scope"]

logger = logging.getLogger("airlock")

_NEW, _ACTIVE, _EXITED, _FLUSHED, _DISCARDED = "new", "active", "exited", "flushed", "discarded"
_ALLOW_ALL = AllowAll()
_UNRESOLVED: Any = object()


def _watches(policy: Policy) -> bool:
    """True when a policy's ``on_enqueue`` does something (not the protocol's no-op default)."""
    # getattr on the type: a duck-typed policy may carry its methods on the instance.
    return type(policy) is not AllowAll and (
        getattr(type(policy), "on_enqueue", None) is not Policy.on_enqueue
    )


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
    _state = _NEW
    _token: Any = None
    _prior: Value = None
    _parent: Scope | None = None
    _inherited: tuple[Policy, ...] = ()
    _watchers: tuple[Scope, ...] = ()
    """This scope and its ancestors whose policy has an ``on_enqueue``, innermost first."""
    _executor: Executor | None = None
    """The executor given to this scope, or None for the configured one."""
    _default: Executor | None = None
    """The configured executor, as it was when this scope first needed it."""
    _prepare: Any = _UNRESOLVED
    _pinned: dict[int, Executor] | None = None
    _isolate = False
    """Error mode: False fails fast (raise ``DispatchError``), True settles each intent alone."""
    policy: Policy = _ALLOW_ALL
    """The scope's own policy (default: ``AllowAll()``)."""

    bare_init = True
    """True when ``__init__`` called with no arguments leaves every field at its class default,
    so ``airlock.scope()`` may build the scope without calling it. A subclass that overrides
    ``__init__`` gets False unless it sets True itself (as ``DjangoScope`` does)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__ and "bare_init" not in cls.__dict__:
            cls.bare_init = False
        # ``with`` runs Scope's own enter() and an inlined exit(); a subclass that overrides
        # either gets the plain versions that call its methods.
        if cls.enter is not Scope.enter:
            cls.__enter__ = Scope._enter_by_method
        if cls.exit is not Scope.exit:
            cls.__exit__ = Scope._exit_by_method  # type: ignore[method-assign]

    def __init__(self, policy: Policy | None = None, *, executor: Executor | None = None) -> None:
        if policy is not None:
            self.policy = _config.resolve_policy(policy)
        if executor is not None:
            self._executor = _config.resolve_executor(executor)

    # -- what it holds -------------------------------------------------------------------------
    @property
    def executor(self) -> Executor:
        """The scope's executor: the one given, else the configured one (``sync_executor`` by
        default) as it was when the scope first buffered an intent."""
        executor = self._executor
        if executor is None:  # not ``or``: a falsy executor object is still the executor
            executor = self._default
            if executor is None:
                executor = self._default = _config.resolved_executor()[0]
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
        if self._state is not _NEW:
            raise ScopeStateError(f"{self!r} was already entered; create a new scope instead")
        prior = _get()
        if prior is not None or self.policy is not _ALLOW_ALL:  # else: nothing to link
            self._link(prior)
        self._state = _ACTIVE
        self._token = _set(self)
        return self

    def _enter_under(self, prior: Value) -> None:
        # Become active below ``prior`` without becoming the context value (LazyScope).
        if self._state is not _NEW:
            raise ScopeStateError(f"{self!r} was already entered; create a new scope instead")
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
        if _watches(self.policy):
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

    # -- enqueue -------------------------------------------------------------------------------
    def _enqueue(
        self,
        task: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        origin: str | None,
        options: Mapping[str, Any] | None,
        key: str | None,
        local: tuple[Policy, ...] | None = None,
    ) -> Intent:
        if self._state is not _ACTIVE:
            raise ScopeStateError(
                f"cannot enqueue into {self!r}: it is {self._state}. The scope finished while "
                "this code still held it (e.g. a thread that outlived its request)."
            )
        if local is None:
            local = self._inherited
        intent = build(
            task, args, kwargs, name, origin,
            EMPTY_OPTIONS if options is None else read_only(options), key, local,
        )
        prepare = self._prepare
        if prepare is _UNRESOLVED:  # first enqueue: fix the executor and look up its prepare
            executor = self._executor
            if executor is None:
                executor = self._default
            if executor is None:  # the configured one, as the ``executor`` property fixes it
                self._default, prepare = _config.resolved_executor()
            else:
                prepare = getattr(executor, "prepare", None)
            self._prepare = prepare
        if prepare is not None or intent.dispatch_options:
            intent = _dispatch.prepare(intent, self.executor, prepare)
        if self._watchers or local:
            with guard(self):
                for policy in local:
                    policy.on_enqueue(intent)
                for scope in self._watchers:
                    if scope._state is _ACTIVE:  # a finished ancestor is absent (SPEC 2.2)
                        scope.policy.on_enqueue(intent)
        if (
            self._take(intent, None)
            and self._state is _ACTIVE  # not exited (from another thread) while taking it
            and not (prepare or self._watchers or local or _events.listeners)
            and options is None
            and key is None
        ):
            hooked = type(self).on_buffered is not on_buffered_default
            self._direct = self._hooked(self) if hooked else self._buffer
        return intent

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
        if not intents:
            return []
        failed: list[tuple[Intent, BaseException]] = []
        if self._parent is None and self.policy is _ALLOW_ALL and _no_local(intents):
            survivors = intents  # nobody to ask: the outermost scope with the default policy
        else:
            survivors = _judging.judge(self, intents, failed)
        if failed and not self._isolate:
            # Fail-fast: a policy error stops the flush before anything is sent.
            cause = failed[0][1]
            for intent in survivors:
                self.settle(intent, _events.FAILED, cause)
                failed.append((intent, cause))
            raise _dispatch.dispatch_error(failed, survivors) from cause
        if survivors:
            self.dispatch(survivors)
        return survivors

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
        executor = self.executor
        _dispatch.send(intents, self, executor, isolate=self._isolate, pinned=self._pinned)

    # -- context manager -----------------------------------------------------------------------
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
        if exc is None and type(self).should_flush is _should_flush:
            if self._buffer is None:
                self._state = _FLUSHED  # nothing was buffered: nothing to decide
                return
            self._state = _EXITED
            self._direct = None
            self.flush()
            return
        self._state = _EXITED
        self._direct = None
        self._finish(exc)

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
            f"policy={self.policy!r}>"
        )


_should_flush = Scope.should_flush


def _no_local(intents: list[Intent]) -> bool:
    for intent in intents:  # noqa: SIM110 - a plain loop: no generator per flush
        if intent.local_policies:
            return False
    return True
_get, _set, _reset = current.get, current.set, current.reset
