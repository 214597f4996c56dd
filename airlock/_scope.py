"""Scope: the buffer that holds intents until the unit of work decides their fate.

The active scope lives in a ``ContextVar``, so threads, asyncio tasks and gevent greenlets each
see their own. The variable holds either a ``Scope`` or a ``_Frame`` (a local-policy block or a
policy-callback guard) that forwards to one; ``enqueue`` calls ``_enqueue`` on whatever is there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any

from airlock import _config, _events
from airlock import _intent as _intent_mod
from airlock._intent import _EMPTY_OPTIONS, Intent
from airlock.exceptions import NoScopeError, PolicyEnqueueError, ScopeStateError
from airlock.policies import AllowAll
from airlock.typing import Executor, Policy

__all__ = ["Scope", "get_current_scope"]

logger = logging.getLogger("airlock")

_NEW, _ACTIVE, _EXITED, _FLUSHED, _DISCARDED = "new", "active", "exited", "flushed", "discarded"
_DUPLICATE = "duplicate key"
# airlock's own dispatch options: routing to a named executor, and the outbox's "durable". They
# stay on the buffered intent (policies and the outbox read them) but no executor sees them,
# neither in prepare() nor when called.
RESERVED_OPTIONS = ("executor", "durable")


class _Frame:
    """A context value that is not a scope: a local-policy block, or a policy-callback guard."""

    __slots__ = ("guard", "policies", "scope")
    _fast = False  # enqueue's fast path never applies to a frame

    def __init__(self, scope: Scope | None, policies: tuple[Policy, ...], guard: bool) -> None:
        self.scope = scope
        self.policies = policies
        self.guard = guard

    def _enqueue(self, *call: Any) -> Intent:
        if self.guard:
            raise PolicyEnqueueError(
                "enqueue() was called from inside a policy callback; policies decide about "
                "intents, they may not create them. Enqueue from application code instead."
            )
        if self.scope is None:
            raise NoScopeError(_NO_SCOPE_MESSAGE)
        task, args, kwargs, name, origin, options, key = call
        return self.scope._enqueue(task, args, kwargs, name, origin, options, key, self.policies)


_ALLOW_ALL = AllowAll()
# Shared, empty and never written: a scope gets its own list / dict when it first needs one.
_NOTHING: list[Intent] = []
_NO_KEYS: dict[str, Intent] = {}

_NO_SCOPE_MESSAGE = (
    "airlock.enqueue() was called with no active scope. Wrap the unit of work in "
    "`with airlock.scope():`, decorate it with `@airlock.scoped()`, or add "
    "airlock.integrations.django.AirlockMiddleware for requests."
)

_current: ContextVar[Scope | _Frame | None] = ContextVar("airlock_scope", default=None)


def get_current_scope() -> Scope | None:
    """The innermost active scope in this context, or None."""
    cur = _current.get()
    return cur.scope if isinstance(cur, _Frame) else cur


def _current_policies() -> tuple[Policy, ...]:
    cur = _current.get()
    if isinstance(cur, _Frame):
        return cur.policies
    return cur._inherited if cur is not None else ()


def _is_trivial(policy: Policy) -> bool:
    # getattr: a duck-typed policy may carry its methods on the instance, not the class.
    return getattr(type(policy), "on_enqueue", None) is Policy.on_enqueue


def _prepare_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(options, Mapping):
        raise TypeError(
            f"_dispatch_options must be a mapping such as {{'queue': 'mail'}}, got {options!r}"
        )
    return MappingProxyType(dict(options)) if options else _EMPTY_OPTIONS


_live_config = _config.current()  # updated in place by configure() / reset_configuration()


class Scope:
    """Buffers intents; at the end of the unit of work, flushes (dispatches) or discards them.

    Use it through ``airlock.scope()`` / ``@airlock.scoped()`` or as a context manager. Override
    points: ``should_flush(error)``, ``before_descendant_flushes(exiting_scope, intents)``,
    ``dispatch(intents)``, and ``on_buffered(intent)`` (called as an intent enters the buffer).
    Not thread-safe beyond what ``list.append`` gives: one scope belongs to one unit of work.
    """

    # Defaults every new scope starts with (immutable, so shared by the class until set).
    _state = _NEW
    _parent: Scope | None = None
    _inherited: tuple[Policy, ...] = ()
    _observers: tuple[Scope, ...] = ()
    """This scope and its ancestors whose policy has an ``on_enqueue``, innermost first."""
    _token: Token[Scope | _Frame | None] | None = None
    _prior: Scope | _Frame | None = None
    _has_local = False
    _fast = False
    """True while ``enqueue`` may skip ``_enqueue`` (see ``_allows_fast_path``)."""
    _fast_class = True
    """False for a subclass that overrides ``_enqueue`` or ``on_buffered`` (set per class)."""
    policy: Policy = _ALLOW_ALL
    """The scope's own policy (default: ``AllowAll()``)."""
    executor: Executor
    """The scope's executor (default: the configured one, else ``sync_executor``)."""
    _prepare: Any
    _trivial_policy = True
    # Created on first use: most scopes never capture, use keys, drop or dispatch anything.
    _captured: list[Intent] = _NOTHING
    _keys: dict[str, Intent] = _NO_KEYS
    _dropped: list[tuple[Intent, Any]] | None = None
    _dispatched: list[Intent] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fast_class = cls._enqueue is Scope._enqueue and cls.on_buffered is Scope.on_buffered

    def __init__(self, policy: Policy | None = None, *, executor: Executor | None = None) -> None:
        if policy is not None:
            self.policy = policy
            if type(policy) is not AllowAll:  # AllowAll needs no check: the common default
                _config.check_policy(policy)
                self._trivial_policy = False
        if executor is None:
            self.executor, self._prepare = _live_config["resolved"] or _config.resolved_executor()
        else:
            self.executor = _config.check_executor(executor)
            self._prepare = getattr(executor, "prepare", None)
        self._buffer: list[Intent] = []

    @property
    def dropped(self) -> list[tuple[Intent, Any]]:
        """Intents removed by a policy or as a duplicate key, as ``(intent, reason)`` pairs."""
        if self._dropped is None:
            self._dropped = []
        return self._dropped

    @property
    def dispatched(self) -> list[Intent]:
        """Intents this scope handed to its executor(s)."""
        if self._dispatched is None:
            self._dispatched = []
        return self._dispatched

    # -- state -------------------------------------------------------------------------------
    @property
    def intents(self) -> list[Intent]:
        """Every intent buffered here (own and captured), in FIFO order.

        Empty once the scope has flushed or discarded: see ``dispatched`` and ``dropped``.
        """
        return list(self._buffer)

    @property
    def captured_intents(self) -> list[Intent]:
        """The buffered intents that were captured from exiting descendant scopes."""
        return list(self._captured)

    @property
    def own_intents(self) -> list[Intent]:
        """The buffered intents that were enqueued directly into this scope."""
        captured = {id(i) for i in self._captured}
        return [i for i in self._buffer if id(i) not in captured]

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
        prior = _current.get()
        # The outermost scope with the default policy (a request) skips the linking: the class
        # defaults already say no parent, no inherited policies, no observers.
        if prior is not None or not self._trivial_policy:
            self._link(prior)
        self._token = _current.set(self)
        self._state = _ACTIVE
        if self._fast_class and self._allows_fast_path():
            self._fast = True
        return self

    def _link(self, prior: Scope | _Frame | None) -> None:
        # Parent, inherited local policies and the scopes whose policy watches on_enqueue.
        parent: Scope | None = None
        if prior is not None:
            self._prior = prior
            if isinstance(prior, _Frame):
                parent, self._inherited = prior.scope, prior.policies
            else:
                parent, self._inherited = prior, prior._inherited
            self._parent = parent
        policy = self.policy
        if type(policy) is AllowAll or _is_trivial(policy):
            if parent is not None:
                self._observers = parent._observers
        else:
            self._observers = (self, *parent._observers) if parent is not None else (self,)

    def _allows_fast_path(self) -> bool:
        # enqueue() appends straight to the buffer when _enqueue would do nothing more: no
        # executor prepare, no policy watching on_enqueue, no local policy, no hook overridden
        # (_fast_class). It also checks per call: no dispatch options, no key, no listener.
        return self._prepare is None and not self._observers and not self._inherited

    def exit(self) -> None:
        """Stop being current. Does not flush or discard: call ``flush()`` or ``discard()``."""
        if self._state is not _ACTIVE:
            raise ScopeStateError(f"{self!r} is not active; exit() goes with one enter()")
        self._state = _EXITED
        if self._fast:
            self._fast = False
        try:
            _current.reset(self._token)  # type: ignore[arg-type]
        except ValueError:
            # Exited from another context than the one it was entered in (e.g. another task).
            _current.set(self._prior)

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

    def on_buffered(self, intent: Intent) -> None:
        """Hook: called for each intent entering this buffer (own or captured)."""

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
        intent: Intent = tuple.__new__(
            Intent,
            (
                task,
                args,
                kwargs or None,
                name,
                origin,
                _prepare_options(options) if options is not None else _EMPTY_OPTIONS,
                key,
                local,
                _intent_mod._prefix,
                _intent_mod.next_seq(),
            ),
        )
        if intent[5]:
            intent = self._prepare_for(intent)
        elif self._prepare is not None:
            intent = self._prepare(intent)
        if self._observers or local:
            self._observe(intent, local)
            self._has_local = self._has_local or bool(local)
        if key is not None:
            if key in self._keys:
                self._drop(intent, _DUPLICATE)
                return intent
            self._own_keys()[key] = intent
        self._buffer.append(intent)
        if type(self).on_buffered is not Scope.on_buffered:
            self.on_buffered(intent)
        if _events.listeners:
            _events.emit(_events.ENQUEUED, intent, self)
        return intent

    def _prepare_for(self, intent: Intent) -> Intent:
        options = intent[5]
        name = options.get("executor")
        if name is None:
            prepare = self._prepare
        else:
            prepare = getattr(_config.get_named_executor(name), "prepare", None)
        if prepare is None:
            return intent
        reserved = {k: options[k] for k in RESERVED_OPTIONS if k in options}
        if not reserved:
            return prepare(intent)  # type: ignore[no-any-return]
        # The executor validates only its own options; airlock's stay on the buffered intent.
        prepared: Intent = prepare(intent.without_options(*RESERVED_OPTIONS))
        return prepared.replace(dispatch_options={**prepared[5], **reserved})

    def _observe(self, intent: Intent, local: tuple[Policy, ...]) -> None:
        token = _current.set(_Frame(self, local, guard=True))
        try:
            for policy in local:
                policy.on_enqueue(intent)
            for scope in self._observers:
                if scope._state is _ACTIVE:  # a finished ancestor is absent (SPEC 2.2)
                    scope.policy.on_enqueue(intent)
        finally:
            _current.reset(token)

    def _forget_captures_and_keys(self) -> None:
        if self._captured:
            self._captured = []
        if self._keys:
            self._keys.clear()

    def _own_keys(self) -> dict[str, Intent]:
        if self._keys is _NO_KEYS:
            self._keys = {}
        return self._keys

    def _drop(self, intent: Intent, reason: Any) -> None:
        self.dropped.append((intent, reason))
        if _events.listeners:
            _events.emit(_events.DROPPED, intent, self, reason)

    # -- flush / discard -----------------------------------------------------------------------
    def _check_finishable(self, what: str) -> None:
        if self._state is _ACTIVE:
            raise ScopeStateError(f"cannot {what} {self!r} while it is active; exit() it first")
        if self._state is _FLUSHED or self._state is _DISCARDED:
            raise ScopeStateError(f"cannot {what} {self!r}: it is already {self._state}")

    def _filter(
        self, intents: list[Intent], local_too: bool, policy_too: bool = True
    ) -> list[Intent]:
        skip_policy = self._trivial_policy or not policy_too
        if skip_policy and not (local_too and self._has_local):
            return intents
        keep: list[Intent] = []
        token = _current.set(_Frame(self, (), guard=True))
        try:
            for intent in intents:
                if local_too and intent[7]:
                    refusing = next((p for p in intent[7] if not p.allows(intent)), None)
                    if refusing is not None:
                        self._drop(intent, refusing)
                        continue
                if skip_policy or self.policy.allows(intent):
                    keep.append(intent)
                else:
                    self._drop(intent, self.policy)
        finally:
            _current.reset(token)
        return keep

    def flush(self) -> list[Intent]:
        """Apply policies and dispatch the survivors, FIFO; returns what this scope dispatched.

        Nested: intents that pass this scope's policy are offered to each active ancestor
        (``before_descendant_flushes``); whatever an ancestor does not hand back it captures.
        On a plain Scope an executor error stops the flush and propagates (the scope is still
        marked flushed).
        """
        if self._state is not _EXITED:
            self._check_finishable("flush")
        if not self._buffer:  # nothing to filter, offer or dispatch: the common empty request
            self._state = _FLUSHED
            self._forget_captures_and_keys()
            return []
        ancestors = list(self.ancestors())
        if ancestors:
            # Local policies travel with captured intents and are checked where they dispatch.
            remaining = self._filter(self._buffer, local_too=False)
            for ancestor in ancestors:
                if not remaining:
                    break
                released = ancestor.before_descendant_flushes(self, list(remaining))
                released_ids = {id(i) for i in released}
                ancestor._capture(self, [i for i in remaining if id(i) not in released_ids])
                remaining = [i for i in remaining if id(i) in released_ids]
            # Released intents already passed this scope's policy above: ask it only once.
            survivors = (
                self._filter(remaining, local_too=True, policy_too=False) if remaining else []
            )
        else:
            survivors = self._filter(self._buffer, local_too=True)
        self._state = _FLUSHED
        self._buffer = []
        self._forget_captures_and_keys()
        if survivors:
            self.dispatch(survivors)
        return survivors

    def _capture(self, child: Scope, intents: list[Intent]) -> None:
        if self._captured is _NOTHING:
            self._captured = []
        for intent in intents:
            key = intent[6]
            if key is not None:
                if key in self._keys:
                    self._drop(intent, _DUPLICATE)
                    continue
                self._own_keys()[key] = intent
            self._buffer.append(intent)
            self._captured.append(intent)
            self._has_local = self._has_local or bool(intent[7])
            if type(self).on_buffered is not Scope.on_buffered:
                self.on_buffered(intent)
            if _events.listeners:
                _events.emit(_events.CAPTURED, intent, self, child)

    def discard(self) -> list[Intent]:
        """Drop everything buffered; returns the discarded intents."""
        if self._state is not _EXITED:
            self._check_finishable("discard")
        discarded, self._buffer = self._buffer, []
        self._forget_captures_and_keys()
        self._state = _DISCARDED
        if _events.listeners:
            for intent in discarded:
                _events.emit(_events.DISCARDED, intent, self)
        return discarded

    def executor_for(self, intent: Intent) -> tuple[Executor, Intent]:
        """The executor for an intent (a named one if its options say so) and what to pass it."""
        return resolve_executor(intent, self.executor)

    def dispatch(self, intents: list[Intent]) -> None:
        """Hand each intent to its executor in order, then call ``after_flush()`` once on each.

        Fail-fast: the first executor error stops the loop and propagates.
        """
        used: list[Executor] = [self.executor]
        executor, record = self.executor, self.dispatched.append
        try:
            for intent in intents:
                if intent[5] or _events.listeners:
                    self.run_executor(intent, used)
                else:  # the common case, kept free of calls it does not need
                    executor(intent)
                    record(intent)
        finally:
            _after_flush(used)

    def run_executor(self, intent: Intent, used: list[Executor] | None = None) -> None:
        """Dispatch one intent, recording it in ``dispatched`` and emitting its fate."""
        executor, prepared = self.executor_for(intent)
        if used is not None and executor is not self.executor and executor not in used:
            used.append(executor)
        try:
            executor(prepared)
        except BaseException as exc:
            if _events.listeners:
                _events.emit(_events.FAILED, intent, self, exc)
            raise
        self.dispatched.append(intent)
        if _events.listeners:
            _events.emit(_events.DISPATCHED, intent, self, executor)

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Scope:
        return self.enter()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exit()
        self._finish(exc)

    async def __aenter__(self) -> Scope:
        return self.enter()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.exit()
        self._finish(exc)

    def _finish(self, error: BaseException | None) -> None:
        if not self.should_flush(error):
            self.discard()
            return
        if error is None:
            self.flush()
            return
        try:
            self.flush()
        except Exception:
            # The original error must propagate unchanged; the flush failure is only logged.
            logger.exception("airlock: flush of %r failed while handling %r", self, error)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state} intents={len(self._buffer)} "
            f"policy={self.policy!r}>"
        )


def resolve_executor(intent: Intent, default: Executor) -> tuple[Executor, Intent]:
    """The named executor an intent's options pick (else ``default``), and the intent to pass
    it: without airlock's own options. Scopes and the outbox relay both dispatch through it."""
    options = intent[5]
    if options and ("executor" in options or "durable" in options):  # RESERVED_OPTIONS
        name = options.get("executor")
        executor = default if name is None else _config.get_named_executor(name)
        return executor, intent.without_options(*RESERVED_OPTIONS)
    return default, intent


def _after_flush(executors: list[Executor]) -> None:
    for executor in executors:
        hook = getattr(executor, "after_flush", None)
        if hook is not None:
            hook()
