"""DjangoScope: intents wait for the database transactions they were enqueued in.

Each buffered intent gets a ``Ticket``: the aliases whose transaction it waits for, and its fate.
A ``CommitHook`` registered with Django's ``on_commit`` carries the tickets a scope enqueued at
one savepoint level of one connection: consecutive intents share it, so a transaction with many
intents costs Django one callback, not one each. Django already discards the callbacks of a
rolled-back savepoint or transaction; the hook notices being discarded (it is freed without
having run) and drops its intents. An intent goes to its executor once the scope has flushed
("released" it) and each of its hooks has fired.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

from airlock import _events
from airlock._intent import Intent
from airlock._scope import Scope, _after_flush
from airlock.exceptions import UsageError
from airlock.integrations.django import signals
from airlock.typing import Executor, Policy

__all__ = ["CommitHook", "DjangoScope", "Ticket"]

logger = logging.getLogger("airlock")

# Ticket fates; None while the intent is still alive.
DISPATCHED, FAILED, DROPPED, DISCARDED, ROLLED_BACK = (
    "dispatched",
    "failed",
    "dropped",
    "discarded",
    "rolled_back",
)
_UNTIED = object()  # marks an intent captured from a DjangoScope child that waits for nothing

# Run first for each intent entering a DjangoScope buffer (the outbox app adds its recorder);
# a hook that raises makes the enqueue fail.
buffer_hooks: list[Callable[[DjangoScope, Intent], None]] = []


class Ticket:
    """The transaction bookkeeping of one buffered intent.

    ``aliases``: the database aliases it was tied to at enqueue; ``waiting``: those whose
    commit has not happened yet; ``released``: its scope flushed and the policies let it
    through; ``fate``: None while pending, else one of ``"dispatched"``, ``"failed"``,
    ``"dropped"``, ``"discarded"``, ``"rolled_back"``.
    """

    __slots__ = ("aliases", "fate", "intent", "released", "scope", "waiting")

    def __init__(self, intent: Intent, scope: DjangoScope) -> None:
        self.intent = intent
        self.scope = scope
        self.aliases: tuple[str, ...] = ()
        self.waiting: list[str] = []
        self.released = False
        self.fate: str | None = None

    def __repr__(self) -> str:
        state = self.fate or ("released" if self.released else "buffered")
        return f"<Ticket {self.intent} {state} waiting={sorted(self.waiting)}>"


class CommitHook:
    """The ``on_commit`` callback of the tickets one scope tied to one savepoint level.

    Called: the transaction committed. Freed without having been called: Django dropped it
    because the savepoint or transaction rolled back (or the connection closed mid-transaction).
    ``scope`` is the scope that registered it; a ticket's own scope may since have changed (an
    enclosing scope captured the intent).
    """

    __slots__ = ("alias", "connection_id", "fired", "savepoint_ids", "scope", "shared", "tickets")

    def __init__(self, scope: DjangoScope, connection: Any) -> None:
        self.scope = scope
        self.alias: str = connection.alias
        self.connection_id = id(connection)
        self.savepoint_ids: list[str | None] = list(connection.savepoint_ids)
        # Inside Django's TestCase nothing commits, and captureOnCommitCallbacks runs only the
        # callbacks registered inside its block: there each intent keeps a hook of its own.
        blocks = connection.atomic_blocks
        self.shared = not (blocks and blocks[0]._from_testcase)
        self.tickets: list[Ticket] = []
        self.fired = False

    def __call__(self) -> None:
        if self.fired:  # captureOnCommitCallbacks may run a callback Django runs again later
            return
        self.fired = True
        self.scope._on_commit(self)

    def __del__(self) -> None:
        if not self.fired:
            self.fired = True
            try:
                self.scope._on_rollback(self)
            except Exception:  # pragma: no cover - never let a finalizer raise
                logger.exception("airlock: handling the rollback of %r failed", self.tickets)


def _as_aliases(using: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if using is None:
        return None
    aliases = (using,) if isinstance(using, str) else tuple(using)
    unknown = [a for a in aliases if a not in connections.settings]
    if unknown or not aliases:
        known = ", ".join(connections.settings)
        raise UsageError(
            f"DjangoScope(using={using!r}): unknown database alias(es) {unknown or aliases!r}; "
            f"use aliases from settings.DATABASES ({known})"
        )
    return aliases


_threads = threading.local()
_NO_TICKETS: dict[int, Ticket] = {}  # shared, empty and never written
_NO_LIVE: dict[int, int] = {}


def _thread_connections() -> list[Any]:
    """Every connection object of this thread (Django keeps one per alias and thread).

    Looked up once per thread: going through ``connections[alias]`` costs more than the rest
    of an enqueue.
    """
    try:
        return _threads.connections  # type: ignore[no-any-return]
    except AttributeError:
        _threads.connections = list(connections.all())
        return _threads.connections  # type: ignore[no-any-return]


class DjangoScope(Scope):
    """A scope whose intents wait for the database.

    An intent enqueued while ``atomic`` is open on some aliases (or on the aliases given as
    ``using=``) dispatches only after each of those transactions commits, at the later of
    scope flush and commit, in enqueue order; it is dropped (``ROLLED_BACK`` fate, the
    ``intent_rolled_back`` signal) when the savepoint or transaction it was enqueued in rolls
    back. A failing intent is logged and signalled (``intent_failed``); the others still go and
    nothing raises from the flush. ``schedule_dispatch(callback)`` decides when a ready batch
    runs (default: at once).
    """

    def __init__(
        self,
        policy: Policy | None = None,
        *,
        executor: Executor | None = None,
        using: str | Iterable[str] | None = None,
    ) -> None:
        Scope.__init__(self, policy, executor=executor)
        if using is not None:
            self.using = _as_aliases(using)

    using: tuple[str, ...] | None = None
    """The aliases given as ``using=`` (None: every alias in ``atomic`` at enqueue)."""

    # id(intent) -> ticket, for tied intents not settled yet. Settled ones leave at once:
    # scope <-> ticket is a reference cycle, and a finished scope should die by refcount.
    # Shared empty dicts until the first tied intent: most requests never open a transaction.
    _tickets: dict[int, Ticket] = _NO_TICKETS
    _live: dict[int, int] = _NO_LIVE  # connection id -> our hooks not yet fired or dropped

    # Created on first use (most scopes never need them): tickets handed over by an exiting
    # child; intents released by commit hooks, sent when that commit's hooks are done; ids of
    # rolled-back intents still in the buffer.
    _incoming: dict[int, Ticket | object] | None = None
    _ready: list[Intent] | None = None
    _gone: set[int] | None = None

    # -- enqueue side ----------------------------------------------------------------------
    def ticket_for(self, intent: Intent) -> Ticket | None:
        """The bookkeeping of a buffered or waiting intent; None when it waits for nothing."""
        return self._tickets.get(id(intent))

    def on_buffered(self, intent: Intent) -> None:
        for hook in buffer_hooks:
            hook(self, intent)
        if self._incoming:
            incoming = self._incoming.pop(id(intent), None)
            if incoming is _UNTIED:
                return
            if isinstance(incoming, Ticket):
                self._adopt(incoming)
                return
        ticket = self._tie(intent)
        if ticket is not None:
            self._own_tickets()[id(intent)] = ticket

    def _tie(self, intent: Intent) -> Ticket | None:
        """Tie an intent to every open transaction (of ``using``, if given)."""
        if self.using is None:
            try:  # _thread_connections(), inlined: this runs for every enqueue
                candidates = _threads.connections
            except AttributeError:
                candidates = _thread_connections()
        else:
            candidates = [connections[alias] for alias in self.using]
        ticket = None
        for connection in candidates:  # a plain loop: cheaper than filtering first
            if not connection.in_atomic_block:
                continue
            if ticket is None:
                ticket = Ticket(intent, self)
            ticket.waiting.append(connection.alias)
            # Join our hook if it is the last callback registered and the savepoints are the
            # same (run_on_commit is Django's list of (savepoint ids, callback, robust)).
            pending = connection.run_on_commit
            hook = pending[-1][1] if pending else None
            if not (
                type(hook) is CommitHook
                and hook.scope is self
                and hook.shared
                and not hook.fired
                and hook.savepoint_ids == connection.savepoint_ids
            ):
                hook = CommitHook(self, connection)
                connection.on_commit(hook)
                if self._live is _NO_LIVE:
                    self._live = {}
                self._live[hook.connection_id] = self._live.get(hook.connection_id, 0) + 1
            hook.tickets.append(ticket)
        if ticket is not None:
            ticket.aliases = tuple(ticket.waiting)
        return ticket

    def _adopt(self, ticket: Ticket) -> None:
        ticket.scope._tickets.pop(id(ticket.intent), None)
        ticket.scope = self
        self._own_tickets()[id(ticket.intent)] = ticket

    def _own_tickets(self) -> dict[int, Ticket]:
        if self._tickets is _NO_TICKETS:
            self._tickets = {}
        return self._tickets

    def before_descendant_flushes(
        self, exiting_scope: Scope, intents: list[Intent]
    ) -> list[Intent]:
        released = super().before_descendant_flushes(exiting_scope, intents)
        if isinstance(exiting_scope, DjangoScope):
            # What we capture keeps the transactions it was enqueued in, not today's ones.
            kept = {id(i) for i in released}
            if self._incoming is None:
                self._incoming = {}
            for intent in intents:
                if id(intent) not in kept:
                    self._incoming[id(intent)] = exiting_scope._tickets.get(id(intent), _UNTIED)
        return released

    # -- transaction side ------------------------------------------------------------------
    def _on_commit(self, hook: CommitHook) -> None:
        self._hook_done(hook, committed=True)

    def _on_rollback(self, hook: CommitHook) -> None:
        self._hook_done(hook, committed=False)

    def _hook_done(self, hook: CommitHook, committed: bool) -> None:
        """Settle each live ticket of a hook that ran (``committed``) or was dropped, then send
        what became ready in every scope those tickets belong to."""
        touched: list[DjangoScope] = [self]
        try:
            self._live[hook.connection_id] -= 1
            for ticket in hook.tickets:
                if ticket.fate is not None:
                    continue
                scope = ticket.scope
                if scope not in touched:
                    touched.append(scope)
                if committed:
                    scope._commit(ticket, hook.alias)
                else:
                    scope._roll_back(ticket, hook.alias)
        except Exception:  # a commit hook must never raise into the committing code
            logger.exception("airlock: handling the end of %r failed", hook.tickets)
        for scope in touched:
            scope._send_ready(hook.connection_id, now=not hook.shared)

    def _commit(self, ticket: Ticket, alias: str) -> None:
        ticket.waiting.remove(alias)
        if ticket.waiting:
            return
        if not ticket.released:
            # Committed before its scope flushed: from now on it waits for nothing.
            self._tickets.pop(id(ticket.intent), None)
            return
        if self._ready is None:
            self._ready = []
        self._ready.append(ticket.intent)

    def _roll_back(self, ticket: Ticket, alias: str) -> None:
        ticket.fate = ROLLED_BACK
        intent = ticket.intent
        self._tickets.pop(id(intent), None)
        if not ticket.released:
            if self._gone is None:
                self._gone = set()
            self._gone.add(id(intent))
            key = intent.key
            if key is not None and self._keys.get(key) is intent:
                del self._keys[key]  # a retry may enqueue the same key again
        if _events.listeners:
            _events.emit(_events.ROLLED_BACK, intent, self, alias)
        signals.send(signals.intent_rolled_back, type(self), intent=intent, scope=self, alias=alias)

    def _send_ready(self, connection_id: int, now: bool) -> None:
        # One commit runs all our hooks on that connection in a row: send when the last has
        # run. ``now``: a hook of a TestCase, which captureOnCommitCallbacks may run alone.
        if self._ready and (now or not self._live.get(connection_id)):
            batch, self._ready = self._ready, None
            self.schedule_dispatch(functools.partial(self._send, batch))

    # -- flush side ------------------------------------------------------------------------
    def _prune(self) -> None:
        if self._gone:
            gone, self._gone = self._gone, None
            self._buffer = [i for i in self._buffer if id(i) not in gone]
            self._captured = [i for i in self._captured if id(i) not in gone]

    @property
    def intents(self) -> list[Intent]:
        """Every intent buffered here and not rolled back, in FIFO order."""
        self._prune()
        return list(self._buffer)

    def flush(self) -> list[Intent]:
        """Apply policies; dispatch what is committed now and the rest as it commits.

        Returns the intents released (dispatched now or waiting for their commit).
        """
        if self._gone:
            self._prune()
        released = Scope.flush(self)
        if not self._tickets:  # nothing was tied to a transaction: the common request
            if self._incoming is not None:
                self._incoming = None
            return released
        waiting: dict[int, Ticket] = {}
        for key, ticket in self._tickets.items():
            if ticket.scope is not self or ticket.fate is not None:
                continue
            if ticket.released:
                waiting[key] = ticket
            else:  # dropped by a policy here, or captured by an enclosing non-Django scope
                ticket.fate = DROPPED
        self._tickets = waiting
        self._incoming = None  # left over only by captures dropped as duplicate keys
        return released

    def discard(self) -> list[Intent]:
        if self._gone:
            self._prune()
        if self._tickets:
            for ticket in self._tickets.values():
                if ticket.scope is self and ticket.fate is None:
                    ticket.fate = DISCARDED
            self._tickets = _NO_TICKETS
        if self._incoming is not None:
            self._incoming = None
        discarded = Scope.discard(self)
        if discarded:
            signals.send(signals.intents_discarded, type(self), intents=discarded, scope=self)
        return discarded

    def dispatch(self, intents: list[Intent]) -> None:
        """Send the intents whose transactions committed; release the rest to their hooks."""
        now: list[Intent] = []
        for intent in intents:
            ticket = self._tickets.get(id(intent))
            if ticket is None:
                now.append(intent)
            elif ticket.fate is None:
                ticket.released = True
                if not ticket.waiting:
                    now.append(intent)
        if now:
            self.schedule_dispatch(functools.partial(self._send, now))

    def schedule_dispatch(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (which sends one ready batch). Override to change the timing."""
        callback()

    def _send(self, intents: list[Intent]) -> None:
        executor, record = self.executor, self.dispatched.append
        used: list[Executor] = [executor]
        tickets, dispatched_signal = self._tickets, signals.intent_dispatched
        for intent in intents:
            ticket = tickets.pop(id(intent), None)
            try:
                if intent[5] or _events.listeners:
                    self.run_executor(intent, used)
                else:  # nobody listens and no options: the plain call the core makes too
                    executor(intent)
                    record(intent)
            except Exception as exc:
                if ticket is not None:
                    ticket.fate = FAILED
                logger.exception("airlock: dispatching %r failed", intent)
                signals.send(
                    signals.intent_failed, type(self), intent=intent, scope=self, error=exc
                )
                continue
            if ticket is not None:
                ticket.fate = DISPATCHED
            if dispatched_signal.receivers:
                signals.send(dispatched_signal, type(self), intent=intent, scope=self)
        for executor in used:
            try:
                _after_flush([executor])
            except Exception as exc:
                logger.exception("airlock: %r.after_flush() failed", executor)
                # A batch that failed part-way (DispatchError) names the intents it did not send.
                for intent, error in getattr(exc, "errors", ()):
                    if intent is not None:
                        self._failed(intent, error)

    def _failed(self, intent: Intent, error: BaseException) -> None:
        if _events.listeners:
            _events.emit(_events.FAILED, intent, self, error)
        signals.send(signals.intent_failed, type(self), intent=intent, scope=self, error=error)
