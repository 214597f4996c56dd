"""TransactionalScope: a scope whose intents wait for the database transactions they were
enqueued in. The bookkeeping that ``DjangoScope`` and ``SQLAlchemyScope`` share lives here.

Each intent enqueued while a transaction is open gets a ``Ticket``: what it waits for
(``waiting``), whether its scope has flushed and let it through (``released``), and its fate
once it has one. An integration says only two things: how a new intent is tied to the open
transactions (``_tie``), and when one of them ends, by calling ``_commit(ticket, where)`` or
``_roll_back(ticket, detail)`` for each live ticket it holds, then ``_send_ready()`` (or
``_fail_ready(error)``) on each scope it touched. An intent goes to its executor once its scope
has released it and nothing is left in ``waiting``, in enqueue order; a rolled-back one gets the
fate ``rolled_back``. Failures are isolated: each intent settles on its own and nothing raises
into committed work.

Nesting: a transactional scope inside another of the same integration (``_kin``) hands over the
tickets of what the outer one captures; a scope that cannot follow these transactions (a plain
``Scope``, or another integration's) is never offered an intent that still waits for one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from airlock import _dispatch, _events
from airlock._buffer import Hooked
from airlock._intent import Intent
from airlock._scope import _EXITED, _FLUSHED, Scope

__all__ = ["Ticket", "TransactionalScope"]

logger = logging.getLogger("airlock")

_UNTIED = object()  # marks an intent captured from a child scope that waits for nothing


class Ticket:
    """The transaction bookkeeping of one buffered intent.

    ``tied``: what it was tied to at enqueue (the integration names it: ``aliases``,
    ``sessions``); ``waiting``: those whose commit has not happened yet; ``released``: its
    scope flushed and the policies let it through; ``fate``: None while pending, else its
    terminal fate (``"dispatched"``, ``"failed"``, ``"dropped"``, ``"discarded"``,
    ``"rolled_back"``).
    """

    __slots__ = ("fate", "intent", "released", "scope", "tied", "waiting")

    def __init__(
        self,
        intent: Intent,
        scope: TransactionalScope,
        waiting: list[Any] | None = None,
        tied: tuple[Any, ...] = (),
    ) -> None:
        self.intent = intent
        self.scope = scope
        self.tied = tied
        self.waiting = [] if waiting is None else waiting
        self.released = False
        self.fate: str | None = None

    def __repr__(self) -> str:
        state = self.fate or ("released" if self.released else "buffered")
        return f"<{type(self).__name__} {self.intent} {state} waiting={len(self.waiting)}>"


_NO_TICKETS: dict[int, Ticket] = {}  # shared, empty and never written


class Tied(Hooked):
    """A transactional scope's direct path (see ``Buffer._direct``): append and tie a new
    intent without ``on_buffered``'s checks, which concern captured intents and buffer hooks
    (with a hook installed, ``on_buffered`` runs as usual). A subclass with an ``on_buffered``
    of its own gets a plain ``Hooked`` instead."""

    __slots__ = ()
    scope: TransactionalScope

    def append(self, intent: Intent) -> None:
        scope = self.scope
        if scope._buffer_hooks:
            return Hooked.append(self, intent)
        buffer: list[Intent] = scope._buffer  # type: ignore[assignment]
        buffer.append(intent)
        try:
            ticket = scope._tie(intent)
        except BaseException:
            buffer.pop()
            raise
        if ticket is not None:
            scope._own_tickets()[id(intent)] = ticket
        return None


class TransactionalScope(Scope):
    """A scope whose intents wait for transactions; see the module docstring.

    Subclasses implement ``_tie(intent)``; they may extend ``_report`` (what a fate also
    does: a log line here, signals under Django) and ``_send_batch`` (when a ready batch goes).
    """

    _isolate = True
    _hooked: type[Hooked] = Tied

    _kin: ClassVar[type[TransactionalScope]]
    """The integration's own class: the scopes that follow the same transactions."""

    _buffer_hooks: ClassVar[Sequence[Callable[[Any, Intent], None]]] = ()
    """Run first for each intent entering the buffer; a hook that raises refuses it."""

    # id(intent) -> ticket, for tied intents not settled yet. Settled ones leave at once.
    _tickets: dict[int, Ticket] = _NO_TICKETS
    # Made on first use: tickets handed over by an exiting child; intents released by the
    # flush whose transactions have since committed; ids of rolled-back intents still buffered.
    _incoming: dict[int, Ticket | object] | None = None
    _ready: list[Intent] | None = None
    _gone: set[int] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if TransactionalScope in cls.__bases__:
            cls._kin = cls
        if cls.on_buffered is not TransactionalScope.on_buffered:
            cls._hooked = Hooked  # a hook of its own: Tied would skip it

    # -- enqueue side ----------------------------------------------------------------------
    def _tie(self, intent: Intent) -> Ticket | None:
        """Tie a new intent to the open transactions; None when none is open."""
        raise NotImplementedError

    def ticket_for(self, intent: Intent) -> Ticket | None:
        """The bookkeeping of a buffered or waiting intent; None when it waits for nothing."""
        return self._tickets.get(id(intent))

    def on_buffered(self, intent: Intent) -> None:
        hooks = self._buffer_hooks
        if hooks:
            for hook in hooks:
                hook(self, intent)
        if self._incoming:
            incoming = self._incoming.pop(id(intent), None)
            if incoming is _UNTIED:
                return
            if isinstance(incoming, Ticket):  # captured: it keeps its transactions
                incoming.scope._tickets.pop(id(intent), None)
                incoming.scope = self
                self._own_tickets()[id(intent)] = incoming
                return
        ticket = self._tie(intent)
        if ticket is not None:
            if self._tickets is _NO_TICKETS:
                self._tickets = {}
            self._tickets[id(intent)] = ticket

    def _own_tickets(self) -> dict[int, Ticket]:
        if self._tickets is _NO_TICKETS:
            self._tickets = {}
        return self._tickets

    def _keeps_from(self, ancestor: Scope, intents: list[Intent]) -> set[int] | None:
        """A scope that cannot follow our transactions must not take an intent that waits for
        one (it would send it even if the transaction rolls back): such intents stay here and
        go at their commit."""
        tickets = self._tickets
        if not tickets or isinstance(ancestor, self._kin):
            return None
        return {id(i) for i in intents if id(i) in tickets}

    def before_descendant_flushes(
        self, exiting_scope: Scope, intents: list[Intent]
    ) -> list[Intent]:
        released = super().before_descendant_flushes(exiting_scope, intents)
        if isinstance(exiting_scope, self._kin):
            # What we capture keeps the transactions it was enqueued in, not today's ones.
            kept = {id(i) for i in released}
            if self._incoming is None:
                self._incoming = {}
            for intent in intents:
                if id(intent) not in kept:
                    self._incoming[id(intent)] = exiting_scope._tickets.get(id(intent), _UNTIED)
        return released

    # -- transaction side (called by the integration when a transaction ends) -----------------
    def _commit(self, ticket: Ticket, where: Any) -> None:
        """``where`` (an entry of ``ticket.waiting``) committed."""
        ticket.waiting.remove(where)
        if ticket.waiting:
            return
        if not ticket.released:
            # Committed before its scope flushed: from now on it waits for nothing.
            self._tickets.pop(id(ticket.intent), None)
            return
        if self._ready is None:
            self._ready = []
        self._ready.append(ticket.intent)

    def _roll_back(self, ticket: Ticket, detail: Any, fate: str = _events.ROLLED_BACK) -> None:
        """The intent will never be sent: it leaves the buffer and gets ``fate``."""
        intent = ticket.intent
        if not ticket.released:
            if self._gone is None:
                self._gone = set()
            self._gone.add(id(intent))
            key = intent.key
            if key is not None and self._keys is not None and self._keys.get(key) is intent:
                del self._keys[key]  # a retry may enqueue the same key again
        self.settle(intent, fate, detail)

    def _send_ready(self) -> None:
        """Send what the commits so far made ready."""
        batch, self._ready = self._ready, None
        if batch:
            self._send_batch(batch)

    def _fail_ready(self, error: BaseException) -> None:
        """An interrupt kept the ready intents from going: each fails with it."""
        batch, self._ready = self._ready, None
        for intent in batch or ():
            self.settle(intent, _events.FAILED, error)

    # -- fates -----------------------------------------------------------------------------
    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        """Record a fate; also close the intent's ticket and ``_report`` it."""
        ticket = self._tickets.pop(id(intent), None) if self._tickets else None
        if ticket is not None:
            ticket.fate = fate
        Scope.settle(self, intent, fate, detail)
        self._report(intent, fate, detail)

    def _report(self, intent: Intent, fate: str, detail: Any) -> None:
        """What a fate also does here: a failure is logged (committed work does not raise)."""
        if fate == _events.FAILED:
            logger.error("airlock: dispatching %r failed", intent, exc_info=detail)

    def _reports_dispatched(self) -> bool:
        """True when ``_report`` does something for a dispatched intent."""
        return False

    def settle_all(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        """``settle`` each intent; a run of dispatched ones nobody listens to in one step."""
        if (
            fate != _events.DISPATCHED
            or _events.listeners
            or type(self).settle is not _settle
            or self._reports_dispatched()
        ):
            self._settle_each(intents, fate, detail)
            return
        tickets = self._tickets
        if tickets:
            for intent in intents:
                ticket = tickets.pop(id(intent), None)
                if ticket is not None:
                    ticket.fate = fate
        if self._dispatched is None:
            self._dispatched = list(intents)
        else:
            self._dispatched.extend(intents)

    # -- flush side ------------------------------------------------------------------------
    def _prune(self) -> None:
        gone, self._gone = self._gone, None
        if gone and self._buffer:
            self._buffer = [i for i in self._buffer if id(i) not in gone]
            if self._captured:
                self._captured = [i for i in self._captured if id(i) not in gone]

    @property
    def intents(self) -> list[Intent]:
        """Every intent buffered here and not rolled back, in FIFO order."""
        if self._gone:
            self._prune()
        return list(self._buffer or ())

    def flush(self) -> list[Intent]:
        """Apply policies; dispatch what is committed now and the rest as it commits.

        Returns the intents released (dispatched now or waiting for their commit).
        """
        if self._buffer is None and self._state is _EXITED:  # nothing was enqueued
            self._state = _FLUSHED
            return []
        if self._gone:
            self._prune()
        released = Scope.flush(self)
        self._incoming = None  # left over only by captures dropped as duplicate keys
        if self._tickets:
            waiting: dict[int, Ticket] = {}
            for key, ticket in self._tickets.items():
                if ticket.scope is not self or ticket.fate is not None:
                    continue
                if ticket.released:
                    waiting[key] = ticket
                else:  # dropped by a policy here, or captured by a scope of another kind
                    ticket.fate = _events.DROPPED
            self._tickets = waiting
        return released

    def discard(self) -> list[Intent]:
        if self._gone:
            self._prune()
        self._incoming = None
        return Scope.discard(self)

    def dispatch(self, intents: list[Intent]) -> None:
        """Send the intents whose transactions committed; release the rest to their commits."""
        now: list[Intent] = []
        tickets = self._tickets
        for intent in intents:
            ticket = tickets.get(id(intent)) if tickets else None
            if ticket is None:
                now.append(intent)
            elif ticket.fate is None:
                ticket.released = True
                if not ticket.waiting:
                    now.append(intent)
        if now:
            self._send_batch(now)

    def _send_batch(self, intents: list[Intent]) -> None:
        """Send one ready batch (now; ``DjangoScope`` lets ``schedule_dispatch`` decide)."""
        self._send(intents)

    def _send(self, intents: list[Intent]) -> None:
        _dispatch.send(intents, self, self.executor, isolate=True, pinned=self._pinned)


_settle = TransactionalScope.settle
