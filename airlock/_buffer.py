"""What a scope holds: its buffer of intents (own and captured), their keys, and how one enters.

``enqueue`` hands a new intent to the current scope one of two ways: straight to what
``_direct`` holds (``Buffer.append`` for a scope's first intent, then the buffer itself), or
through ``Buffer._enqueue``, which prepares it for the executor and lets the policies watching
the scope see it. Either way an intent enters a buffer in one place, ``Buffer._take``: its key
is checked (a duplicate is dropped), it is appended, the scope's ``on_buffered`` hook sees it
(raising takes it back out) and the ``enqueued`` or ``captured`` event reports it. ``Scope``
(``_scope``) adds the state machine, nesting and the flush; fates are ``Fates``' (``_fates``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from airlock import _config, _dispatch, _events
from airlock._context import guard
from airlock._core import ACTIVE, FIELDS, Core
from airlock._fates import Fates
from airlock._intent import EMPTY_OPTIONS, Intent, build, read_only
from airlock.exceptions import ScopeStateError

if TYPE_CHECKING:
    from airlock._scope import Scope
    from airlock.typing import Executor, Policy

__all__ = ["Buffer", "Hooked"]

_DUPLICATE = "duplicate key"
_ACTIVE = ACTIVE
_UNRESOLVED: Any = object()


class Appends(Protocol):
    """What ``_direct`` holds: something ``enqueue`` hands a new intent to."""

    def append(self, intent: Intent, /) -> Intent | None: ...


class Hooked:
    """A scope's direct path when its class has an ``on_buffered`` hook: ``_take`` for an
    intent with no key and no listener (append, then the hook; the hook raising takes it out)."""

    __slots__ = ("scope",)

    def __init__(self, scope: Buffer) -> None:
        self.scope = scope

    def append(self, intent: Intent) -> None:
        scope = self.scope
        buffer: list[Intent] = scope._buffer  # type: ignore[assignment]
        buffer.append(intent)
        try:
            scope.on_buffered(intent)
        except BaseException:
            buffer.pop()
            raise


class Buffer(Core, Fates):
    """The intents a scope holds, in FIFO order; every field starts as a class default (or, for
    those of ``Core``, a C member).

    ``_buffer`` holds them. ``_direct`` and ``_plain`` (fields of ``Core``) say how an intent
    may enter and leave:

    - ``_direct``: while ``enqueue`` may hand a new intent straight to the buffer
      (``_direct.append``): the scope is active and an intent needs nothing but the append and
      the ``on_buffered`` hook (no prepare, no watching or local policy, no key, no listener).
      The buffer itself, or a ``Hooked`` when the class has the hook; before the first intent
      of a scope entered with nothing to link, the scope (``Scope.append``). It follows from
      the scope's structure, found at ``enter()`` or at the first enqueue.
    - ``_plain``: entered by ``Scope.enter()`` with nothing to link (no enclosing scope, the
      default policy) on the configured executor, and holding no intent with local policies or
      captured from a child (``_take`` clears it): ``with``'s exit has nothing to judge and
      sends the buffer as it is.
    """

    _hooked: type[Hooked] | None = None
    """What ``_direct`` is made of when the class has an ``on_buffered`` hook (``Hooked``), set
    by ``__init_subclass__``; None exactly when it has none."""
    _captured: list[Intent] | None = None
    _keys: dict[str, Intent] | None = None
    # What enqueue needs besides the buffer, also class defaults until first needed:
    _inherited: tuple[Policy, ...] = ()
    _watchers: tuple[Scope, ...] = ()
    """This scope and its ancestors whose policy has an ``on_enqueue``, innermost first."""
    _executor: Executor | None = None
    """The executor given to this scope, or None for the configured one."""
    _default: Executor | None = None
    """The configured executor, as it was when this scope first needed it (its first intent;
    set only when no executor was given)."""
    _prepare: Any = _UNRESOLVED

    @property
    def intents(self) -> list[Intent]:
        """Every intent buffered here (own and captured), in FIFO order.

        After the scope has finished: what it held when it decided; ``dispatched``, ``dropped``
        and ``failed`` say what became of them.
        """
        return list(self._buffer or ())

    @property
    def captured_intents(self) -> list[Intent]:
        """The buffered intents that were captured from exiting descendant scopes."""
        return list(self._captured or ())

    @property
    def own_intents(self) -> list[Intent]:
        """The buffered intents that were enqueued directly into this scope."""
        captured = {id(i) for i in self._captured or ()}
        return [i for i in self._buffer or () if id(i) not in captured]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for klass in cls.__mro__[: cls.__mro__.index(Core)]:  # itself and bases before Core
            taken = [name for name in FIELDS if name in klass.__dict__]
            if taken:
                raise TypeError(
                    f"{cls.__name__} sets {', '.join(taken)} in the body of {klass.__name__}: a "
                    "scope keeps these per instance (airlock._core); set them on the scope, in "
                    "__init__ or later"
                )
        if cls._hooked is None and cls.on_buffered is not Buffer.on_buffered:
            cls._hooked = Hooked

    def on_buffered(self, intent: Intent) -> None:
        """Hook: called for each intent entering this buffer (own or captured)."""

    def _take(self, intent: Intent, child: Scope | None) -> bool:
        """Buffer one intent (own, or captured from ``child``); False if its key is taken.

        ``on_buffered`` raising takes the intent back out and propagates.
        """
        key = intent.key
        if key is not None:
            keys = self._keys
            if keys is None:
                keys = self._keys = {}
            elif key in keys:
                self.settle(intent, _events.DROPPED, _DUPLICATE)
                return False
            keys[key] = intent
        buffer = self._buffer
        if buffer is None:
            buffer = self._buffer = []
        buffer.append(intent)
        if child is not None or intent.local_policies:
            self._plain = False  # the flush has something to judge, or an executor pinned
        if self._hooked is not None:
            try:
                self.on_buffered(intent)
            except BaseException:
                buffer.pop()
                if key is not None:
                    del self._keys[key]  # type: ignore[union-attr]
                raise
        if _events.listeners:
            if child is None:
                _events.emit(_events.ENQUEUED, intent, self)  # type: ignore[arg-type]
            else:
                _events.emit(_events.CAPTURED, intent, self, child)  # type: ignore[arg-type]
        return True

    if TYPE_CHECKING:

        @property
        def executor(self) -> Executor: ...  # Scope's

    # -- enqueue -------------------------------------------------------------------------------
    def append(self, intent: Intent) -> Intent | None:
        """``enqueue``'s direct path for the first intent of a scope entered with nothing to
        link (no enclosing scope, the default policy) on the configured executor: fix that
        executor, buffer the intent and arm ``_direct`` with the buffer for the next ones.
        Returns the intent buffered when the executor prepared it (else None). Not for
        application code."""
        if self._state is not _ACTIVE:
            raise self._inactive()
        self._default, prepare = _live_config["resolved"] or _config.resolved_executor()
        if prepare is not None:
            return self._prepared(intent, prepare)
        buffer = self._buffer  # None, unless a child's intents were captured first
        if buffer is None:
            buffer = self._buffer = [intent]
        else:
            buffer.append(intent)
        if self._state is _ACTIVE:  # not exited (from another thread) meanwhile
            self._direct = buffer
        return None

    def _append_hooked(self, intent: Intent) -> Intent | None:
        # append() for a class with an on_buffered hook (see __init_subclass__).
        if self._state is not _ACTIVE:
            raise self._inactive()
        self._default, prepare = _live_config["resolved"] or _config.resolved_executor()
        if prepare is not None:
            return self._prepared(intent, prepare)
        self._direct = None  # the executor is fixed: a refused intent must not fix it again
        if self._take(intent, None) and self._state is _ACTIVE:
            self._direct = self._hooked(self)  # type: ignore[misc]
        return None

    def _prepared(self, intent: Intent, prepare: Any) -> Intent:
        # The configured executor prepares each intent: this one and the next go the general
        # way (_enqueue), which prepares them.
        self._direct = None
        self._prepare = prepare
        prepared = _dispatch.prepare(intent, self._default, prepare)  # type: ignore[arg-type]
        self._take(prepared, None)
        return prepared

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
            raise self._inactive()
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
            if self._direct is self:  # the executor is fixed now: append() must not fix it
                self._direct = None
        if prepare is not None or intent.dispatch_options:
            intent = _dispatch.prepare(intent, self.executor, prepare)
        if self._watchers or local:
            with guard(self):  # type: ignore[arg-type]
                for policy in local:
                    policy.on_enqueue(intent)
                for scope in self._watchers:
                    if scope._state is _ACTIVE:  # a finished ancestor is absent (SPEC 2.2)
                        scope._policy.on_enqueue(intent)
        if (
            self._take(intent, None)
            and self._state is _ACTIVE  # not exited (from another thread) while taking it
            and not (prepare or self._watchers or local or _events.listeners)
            and options is None
            and key is None
        ):
            hooked = self._hooked
            self._direct = self._buffer if hooked is None else hooked(self)
        return intent

    def _inactive(self) -> ScopeStateError:
        return ScopeStateError(
            f"cannot enqueue into {self!r}: it is {self._state}. The scope finished while "
            "this code still held it (e.g. a thread that outlived its request)."
        )


_live_config = _config.current()  # updated in place by configure() / reset_configuration()
