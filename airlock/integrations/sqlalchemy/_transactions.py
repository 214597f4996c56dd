"""Which session transactions an intent waits for, and how we learn that they ended.

A ``Ticket`` is the bookkeeping of one intent tied to open session transactions. A session an
intent was tied to carries a ``Watch`` (in ``session.info``): per open transaction (the root
one, or a ``begin_nested()`` savepoint) the tickets tied to it. SQLAlchemy's public session
events say how each transaction ended, deterministically (no garbage collection):
``after_commit`` fires for the transaction that committed (the root one, or a savepoint being
released) just before ``after_transaction_end`` reports it closed; one that ends without it
rolled back (closing a session that is in a transaction rolls it back). A released savepoint
hands its tickets to the transaction around it, a rolled-back one settles them
``rolled_back``, a committed root transaction sends what its scope already released.

Which sessions are "in a transaction here": ``after_transaction_create`` of a root transaction
records the session in a context variable of the context that began it (each thread and each
asyncio task has its own; SQLAlchemy's asyncio layer runs the sync session in the task's
context), and ``after_transaction_end`` takes it out again.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from airlock import _transactional
from airlock._intent import Intent
from airlock.exceptions import UsageError

if TYPE_CHECKING:
    from airlock.integrations.sqlalchemy.scope import SQLAlchemyScope

__all__ = ["Ticket", "Watch", "open_sessions", "sync_sessions", "tie", "track"]

logger = logging.getLogger("airlock")

_INFO_KEY = "airlock"  # our Watch in session.info

# (session, its root transaction) for each tracked session that began a transaction in this
# context and has not ended it here. An entry whose transaction is no longer the session's
# (ended in another context) is stale and skipped.
_open: contextvars.ContextVar[tuple[tuple[Session, SessionTransaction], ...]] = (
    contextvars.ContextVar("airlock_sqlalchemy_open", default=())
)

T = TypeVar("T")


class Ticket(_transactional.Ticket):
    """The transaction bookkeeping of one buffered intent (see ``airlock._transactional``).

    ``sessions``: the sessions it was tied to at enqueue; ``waiting``: the watches of those
    whose commit has not happened yet; ``released``: its scope flushed and the policies let it
    through; ``fate``: None while pending, else its terminal fate.
    """

    __slots__ = ()
    waiting: list[Watch]

    @property
    def sessions(self) -> tuple[Session, ...]:
        return self.tied


class Watch:
    """The tickets tied to one session, per open transaction of it."""

    __slots__ = ("committed", "session", "tickets")

    def __init__(self, session: Session) -> None:
        self.session = session
        # id(transaction) -> (transaction, its tickets in enqueue order)
        self.tickets: dict[int, tuple[SessionTransaction, list[Ticket]]] = {}
        self.committed: SessionTransaction | None = None

    def join(self, transaction: SessionTransaction) -> list[Ticket]:
        """The ticket list of ``transaction`` (made on first use)."""
        entry = self.tickets.get(id(transaction))
        if entry is None:
            entry = self.tickets[id(transaction)] = (transaction, [])
        return entry[1]

    def __repr__(self) -> str:
        return f"<Watch {self.session!r} transactions={len(self.tickets)}>"


def _watch(session: Session) -> Watch:
    found: Watch | None = session.info.get(_INFO_KEY)
    if found is None:
        found = session.info[_INFO_KEY] = Watch(session)
    return found


# -- the events ---------------------------------------------------------------------------------
def _after_transaction_create(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # Replaces a stale entry of the same session (its last transaction ended elsewhere).
        others = tuple(e for e in _open.get() if e[0] is not session)
        _open.set((*others, (session, transaction)))


def _after_commit(session: Session) -> None:
    # The transaction committing is the innermost savepoint, else the root: its children were
    # committed first. after_transaction_end follows at once for it.
    watch: Watch | None = session.info.get(_INFO_KEY)
    if watch is not None:
        watch.committed = session.get_nested_transaction() or session.get_transaction()


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    parent = transaction.parent
    if parent is None:
        entries = _open.get()
        if entries:
            _open.set(tuple(e for e in entries if e[0] is not session))
    elif not transaction.nested:
        return  # a subtransaction (a flush): not a database transaction
    watch: Watch | None = session.info.get(_INFO_KEY)
    if watch is None:
        return
    committed = watch.committed is transaction
    if committed:
        watch.committed = None
    entry = watch.tickets.pop(id(transaction), None)
    if entry is None:
        return
    tickets = entry[1]
    if not committed:
        _rolled_back(tickets, session)
    elif parent is not None:
        # A released savepoint: its intents now wait for the transaction around it.
        while parent.parent is not None and not parent.nested:
            parent = parent.parent
        watch.join(parent).extend(tickets)
    else:
        _committed(tickets, watch)


def _rolled_back(tickets: list[Ticket], session: Session) -> None:
    for ticket in tickets:
        if ticket.fate is None:
            try:
                ticket.scope._roll_back(ticket, session)
            except Exception:  # a rollback must never fail because of us
                logger.exception("airlock: handling the rollback of %r failed", ticket)


def _committed(tickets: list[Ticket], watch: Watch) -> None:
    """Mark each live ticket committed on this session, then send what became ready in each
    scope those tickets belong to (an interrupt fails the batches it kept from going)."""
    touched: list[_transactional.TransactionalScope] = []
    for ticket in tickets:
        if ticket.fate is not None:
            continue
        scope = ticket.scope
        if scope not in touched:
            touched.append(scope)
        try:
            scope._commit(ticket, watch)
        except Exception:  # a commit hook must never raise into the committing code
            logger.exception("airlock: handling the commit of %r failed", ticket)
    interrupt: BaseException | None = None
    for scope in touched:
        if interrupt is not None:
            scope._fail_ready(interrupt)
            continue
        try:
            scope._send_ready()
        except Exception:
            logger.exception("airlock: sending the intents of %r failed", scope)
        except BaseException as exc:  # an interrupt from a dispatch: settled, let it go on
            interrupt = exc
    if interrupt is not None:
        raise interrupt


# What track() registered with, weakly: SQLAlchemy's own event.contains() answers by id(), so a
# class made by a sessionmaker that is gone can make a new one at the same address look tracked.
_tracked: weakref.WeakSet[Any] = weakref.WeakSet()

_EVENTS = (
    ("after_transaction_create", _after_transaction_create),
    ("after_commit", _after_commit),
    ("after_transaction_end", _after_transaction_end),
)


# -- public side ----------------------------------------------------------------------------
def track(target: T) -> T:
    """Make the sessions of ``target`` tie the intents enqueued while they are in a transaction.

    ``target``: a ``sessionmaker`` (the sessions it makes), a ``Session`` or ``AsyncSession``
    (that one), a ``Session`` subclass (all of its sessions: ``track(Session)`` is every
    session), an ``async_sessionmaker`` (its sessions' sync sessions: it is reconfigured with a
    ``sync_session_class`` of its own, unless that is already a ``sessionmaker``, which is then
    tracked), or a ``scoped_session`` of a ``sessionmaker``. Returns ``target``; calling it
    again changes nothing. Only a ``SQLAlchemyScope`` ties intents.
    """
    sync = _sync_target(target)
    if sync not in _tracked:
        for name, listener in _EVENTS:
            event.listen(sync, name, listener)
        _tracked.add(sync)
    return target


def _sync_target(target: Any) -> Any:
    """What SQLAlchemy's session events accept for ``target``."""
    if isinstance(target, (Session, sessionmaker)):
        return target
    aio = sys.modules.get("sqlalchemy.ext.asyncio")  # only loaded when asyncio is in use
    if aio is not None:
        if isinstance(target, aio.AsyncSession):
            return target.sync_session
        if isinstance(target, type) and issubclass(target, aio.AsyncSession):
            async_class: Any = target  # (mypy narrows it to a bare ``type``)
            return async_class.sync_session_class
        if isinstance(target, aio.async_sessionmaker):
            sync = target.kw.get("sync_session_class") or target.class_.sync_session_class
            if not (isinstance(sync, sessionmaker) or sync in _tracked):
                # Like sessionmaker itself does: a subclass, so only these sessions are tracked.
                sync = type(sync.__name__, (sync,), {"__module__": sync.__module__})
                target.configure(sync_session_class=sync)
            return sync
    if isinstance(target, type) and issubclass(target, Session):
        return target
    factory = getattr(target, "session_factory", None)  # scoped_session
    if isinstance(factory, sessionmaker):
        return factory
    raise UsageError(
        f"airlock.integrations.sqlalchemy.track({target!r}): expected a sessionmaker, "
        "async_sessionmaker, Session, AsyncSession, Session class or scoped_session"
    )


def sync_sessions(using: Any) -> tuple[Session, ...]:
    """The sync sessions named by ``using`` (a session, an ``AsyncSession``, or several), each
    tracked."""
    # A Session is iterable (its objects): look for sessions first.
    several = isinstance(using, Iterable) and not (
        isinstance(using, Session) or hasattr(using, "sync_session")
    )
    items = list(using) if several else [using]
    sessions: list[Session] = []
    for item in items:
        session = getattr(item, "sync_session", item)  # an AsyncSession's own Session
        if not isinstance(session, Session):
            raise UsageError(
                f"SQLAlchemyScope(using={using!r}): {item!r} is not a Session or AsyncSession"
            )
        track(session)
        sessions.append(session)
    if not sessions:
        raise UsageError("SQLAlchemyScope(using=...): name at least one session")
    return tuple(sessions)


def open_sessions() -> list[Session]:
    """The tracked sessions that began their transaction in this context and are still in it."""
    entries = _open.get()
    live = [s for s, root in entries if s.get_transaction() is root]
    if len(live) != len(entries):  # ended in another context: forget them here
        _open.set(tuple(e for e in entries if e[0].get_transaction() is e[1]))
    return live


def tie(intent: Intent, scope: SQLAlchemyScope, sessions: Iterable[Session]) -> Ticket | None:
    """Tie ``intent`` to the innermost open transaction (savepoint, else root) of each of
    ``sessions`` that is in one; None when none is."""
    ticket = None
    for session in sessions:
        transaction = session.get_nested_transaction() or session.get_transaction()
        if transaction is None:
            continue
        watch = _watch(session)
        if ticket is None:
            ticket = Ticket(intent, scope, [watch], (session,))
        else:
            ticket.waiting.append(watch)
            ticket.tied += (session,)
        watch.join(transaction).append(ticket)
    return ticket
