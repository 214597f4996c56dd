"""What a scope holds: its buffer of intents (own and captured), their keys, and how one enters.

An intent enters a buffer in one place, ``Buffer._take``: its key is checked (a duplicate is
dropped), it is appended, the scope's ``on_buffered`` hook sees it (raising takes it back out)
and the ``enqueued`` or ``captured`` event reports it. ``Scope`` (``_scope``) adds the state
machine, nesting and the flush; fates are ``Fates``' (``_fates``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from airlock import _events
from airlock._core import Core
from airlock._fates import Fates
from airlock._intent import Intent

if TYPE_CHECKING:
    from airlock._scope import Scope

__all__ = ["Buffer", "Hooked"]

_DUPLICATE = "duplicate key"


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

