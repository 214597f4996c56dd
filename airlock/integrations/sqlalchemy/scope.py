"""SQLAlchemyScope: intents wait for the session transactions they were enqueued in.

Each intent enqueued while a tracked session (see ``track``) of this thread or task is in a
transaction, or one of the sessions given as ``using=``, gets a ``Ticket`` naming the sessions it
waits for; the session events of ``_transactions`` report each commit and rollback. An intent
goes to its executor once its scope has flushed ("released" it) and each of its sessions
committed; a rolled-back one gets the fate ``rolled_back``. Failures are isolated, as in
``DjangoScope``: each intent settles on its own and nothing raises into committed work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session

from airlock import _dispatch, _events
from airlock._intent import Intent
from airlock._scope import _EXITED, _FLUSHED, Scope
from airlock.integrations.sqlalchemy._transactions import (
    Ticket,
    Watch,
    open_sessions,
    sync_sessions,
    tie,
)
from airlock.typing import Executor, Policy

__all__ = ["SQLAlchemyScope"]

logger = logging.getLogger("airlock")

_UNTIED = object()  # marks an intent captured from a child scope that waits for nothing
_NO_TICKETS: dict[int, Ticket] = {}  # shared, empty and never written

# Run first for each intent entering a SQLAlchemyScope buffer (the SQLAlchemy outbox adds its
# recorder); a hook that raises makes the enqueue fail.
buffer_hooks: list[Callable[[SQLAlchemyScope, Intent], None]] = []


class SQLAlchemyScope(Scope):
    """A scope whose intents wait for the SQLAlchemy session transactions they were enqueued in.

    An intent enqueued while a tracked session began in this thread or asyncio task is in a
    transaction (or while one of the sessions given as ``using=`` is) dispatches only after each
    of those transactions commits, at the later of scope flush and commit, in enqueue order. It
    gets the fate ``rolled_back`` when the transaction, or the ``begin_nested()`` savepoint it
    was enqueued in, rolls back (or the session is closed without committing). Failures are
    isolated: a failing intent is logged (logger ``airlock``), the others still go, and nothing
    raises from the flush or from the commit.
    """

    _isolate = True
    bare_init = True  # __init__ only records ``using`` when it is given

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        executor: Executor | None = None,
        using: Any = None,
    ) -> None:
        Scope.__init__(self, policy, executor=executor)
        if using is not None:
            self.using = sync_sessions(using)

    using: tuple[Session, ...] | None = None
    """The sessions given as ``using=`` (an ``AsyncSession`` as its ``sync_session``); None:
    every tracked session in a transaction in this context at enqueue."""

    # id(intent) -> ticket, for tied intents not settled yet. Settled ones leave at once.
    _tickets: dict[int, Ticket] = _NO_TICKETS
    # Made on first use: tickets handed over by an exiting child; intents whose transactions
    # committed after the flush released them; ids of rolled-back intents still buffered.
    _incoming: dict[int, Ticket | object] | None = None
    _ready: list[Intent] | None = None
    _gone: set[int] | None = None

    # -- enqueue side ----------------------------------------------------------------------
    def ticket_for(self, intent: Intent) -> Ticket | None:
        """The bookkeeping of a buffered or waiting intent; None when it waits for nothing."""
        return self._tickets.get(id(intent))

    def on_buffered(self, intent: Intent) -> None:
        if buffer_hooks:
            for hook in buffer_hooks:
                hook(self, intent)
        if self._incoming:
            incoming = self._incoming.pop(id(intent), None)
            if incoming is _UNTIED:
                return
            if isinstance(incoming, Ticket):
                incoming.scope._tickets.pop(id(intent), None)
                incoming.scope = self
                self._own_tickets()[id(intent)] = incoming
                return
        sessions = self.using if self.using is not None else open_sessions()
        if sessions:
            ticket = tie(intent, self, sessions)
            if ticket is not None:
                self._own_tickets()[id(intent)] = ticket

    def _own_tickets(self) -> dict[int, Ticket]:
        if self._tickets is _NO_TICKETS:
            self._tickets = {}
        return self._tickets

    def _keeps_from(self, ancestor: Scope, intents: list[Intent]) -> set[int] | None:
        """A scope that cannot follow sessions must not take an intent that waits for one (it
        would send it even if the session rolls back): such intents stay here."""
        tickets = self._tickets
        if not tickets or isinstance(ancestor, SQLAlchemyScope):
            return None
        return {id(i) for i in intents if id(i) in tickets}

    def before_descendant_flushes(
        self, exiting_scope: Scope, intents: list[Intent]
    ) -> list[Intent]:
        released = super().before_descendant_flushes(exiting_scope, intents)
        if isinstance(exiting_scope, SQLAlchemyScope):
            # What we capture keeps the transactions it was enqueued in, not today's ones.
            kept = {id(i) for i in released}
            if self._incoming is None:
                self._incoming = {}
            for intent in intents:
                if id(intent) not in kept:
                    self._incoming[id(intent)] = exiting_scope._tickets.get(id(intent), _UNTIED)
        return released

    # -- transaction side (called by the session events) --------------------------------------
    def _commit(self, ticket: Ticket, watch: Watch) -> None:
        ticket.waiting.remove(watch)
        if ticket.waiting:
            return
        if not ticket.released:
            # Committed before its scope flushed: from now on it waits for nothing.
            self._tickets.pop(id(ticket.intent), None)
            return
        if self._ready is None:
            self._ready = []
        self._ready.append(ticket.intent)

    def _roll_back(self, ticket: Ticket, session: Session) -> None:
        # The intent will never be sent: it leaves the buffer and gets ``rolled_back``.
        intent = ticket.intent
        if not ticket.released:
            if self._gone is None:
                self._gone = set()
            self._gone.add(id(intent))
            key = intent.key
            if key is not None and self._keys is not None and self._keys.get(key) is intent:
                del self._keys[key]  # a retry may enqueue the same key again
        self.settle(intent, _events.ROLLED_BACK, session)

    def _send_ready(self) -> None:
        batch, self._ready = self._ready, None
        if batch:
            self._send(batch)

    def _fail_ready(self, error: BaseException) -> None:
        batch, self._ready = self._ready, None
        for intent in batch or ():
            self.settle(intent, _events.FAILED, error)

    # -- fates -----------------------------------------------------------------------------
    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        """Record a fate; also close the intent's ticket and log a failure."""
        ticket = self._tickets.pop(id(intent), None) if self._tickets else None
        if ticket is not None:
            ticket.fate = fate
        Scope.settle(self, intent, fate, detail)
        if fate == _events.FAILED:
            logger.error("airlock: dispatching %r failed", intent, exc_info=detail)

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
                else:  # dropped by a policy here, or captured by an enclosing plain scope
                    ticket.fate = _events.DROPPED
            self._tickets = waiting
        return released

    def discard(self) -> list[Intent]:
        if self._gone:
            self._prune()
        self._incoming = None
        return Scope.discard(self)

    def dispatch(self, intents: list[Intent]) -> None:
        """Send the intents whose transactions committed; release the rest to their sessions."""
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
            self._send(now)

    def _send(self, intents: Iterable[Intent]) -> None:
        _dispatch.send(list(intents), self, self.executor, isolate=True, pinned=self._pinned)
