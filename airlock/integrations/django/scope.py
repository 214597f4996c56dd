"""DjangoScope: intents wait for the database transactions they were enqueued in.

Each intent enqueued inside ``atomic`` gets a ``Ticket`` naming the aliases it waits for; the
commit hooks of ``_transactions`` report each commit and each rollback. An intent goes to its
executor once its scope has flushed ("released" it) and each of its transactions committed; a
rolled-back one gets the fate ``rolled_back``. Failures are isolated: each intent settles on its
own and nothing raises into a request whose data is already committed.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connections

from airlock import _dispatch, _events
from airlock._intent import Intent
from airlock._scope import _EXITED, _FLUSHED, Scope
from airlock.exceptions import UsageError
from airlock.integrations.django import signals
from airlock.integrations.django._transactions import CommitHook, Ticket, watch
from airlock.typing import Executor, Policy

__all__ = ["CommitHook", "DjangoScope", "Ticket"]

logger = logging.getLogger("airlock")

_UNTIED = object()  # marks an intent captured from a DjangoScope child that waits for nothing
_NO_TICKETS: dict[int, Ticket] = {}  # shared, empty and never written

# Run first for each intent entering a DjangoScope buffer (the outbox app adds its recorder);
# a hook that raises makes the enqueue fail.
buffer_hooks: list[Callable[[DjangoScope, Intent], None]] = []

_threads = threading.local()


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


class DjangoScope(Scope):
    """A scope whose intents wait for the database.

    An intent enqueued while ``atomic`` is open on some aliases (or on the aliases given as
    ``using=``) dispatches only after each of those transactions commits, at the later of
    scope flush and commit, in enqueue order; it gets the fate ``rolled_back`` (and the
    ``intent_rolled_back`` signal) when the savepoint or transaction it was enqueued in rolls
    back. Failures are isolated: a failing intent is logged and signalled (``intent_failed``),
    the others still go, and nothing raises from the flush. ``schedule_dispatch(callback)``
    decides when a ready batch runs (default: at once).
    """

    _isolate = True
    bare_init = True  # __init__ only records ``using`` when it is given

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

    # id(intent) -> ticket, for tied intents not settled yet. Settled ones leave at once.
    _tickets: dict[int, Ticket] = _NO_TICKETS
    # connection id -> our hooks on it that have not run or been dropped yet
    _live: dict[int, int] | None = None
    # Made on first use: tickets handed over by an exiting child; intents released by commit
    # hooks, sent once that commit's hooks are done; ids of rolled-back intents still buffered.
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
                self._adopt(incoming)
                return
        ticket = self._tie(intent)
        if ticket is not None:
            if self._tickets is _NO_TICKETS:
                self._tickets = {}
            self._tickets[id(intent)] = ticket

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
        for connection in candidates:
            if not connection.in_atomic_block:
                continue
            if ticket is None:
                ticket = Ticket(intent, self)
            ticket.waiting.append(connection.alias)
            # Join our hook while it is the last callback registered at the same savepoint
            # level: a rollback then drops exactly what separate callbacks would lose.
            pending = connection.run_on_commit
            hook = pending[-1][1] if pending else None
            if not (
                type(hook) is CommitHook
                and hook.scope is self
                and hook.shared
                and not hook.done
                and hook.savepoint_ids == connection.savepoint_ids
            ):
                hook = CommitHook(self, connection)
                watch(connection).add(hook)
                live = self._live
                if live is None:
                    live = self._live = {}
                live[hook.connection_id] = live.get(hook.connection_id, 0) + 1
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

    def _keeps_from(self, ancestor: Scope, intents: list[Intent]) -> set[int] | None:
        """A scope that cannot follow transactions must not take an intent that waits for one
        (it would send it even if the transaction rolls back): such intents stay here and go at
        their commit."""
        tickets = self._tickets
        if not tickets or isinstance(ancestor, DjangoScope):
            return None
        return {id(i) for i in intents if id(i) in tickets}

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
    def _hook_done(self, hook: CommitHook, committed: bool) -> None:
        """Settle each live ticket of a hook that ran (``committed``) or was dropped, then send
        what became ready in every scope those tickets belong to."""
        touched: list[DjangoScope] = [self]
        alias = hook.alias
        try:
            self._live[hook.connection_id] -= 1  # type: ignore[index]
            for ticket in hook.tickets:
                if ticket.fate is not None:
                    continue
                scope = ticket.scope
                if scope is not self and scope not in touched:
                    touched.append(scope)
                if not committed:
                    scope._roll_back(ticket, alias)
                elif len(ticket.waiting) == 1 and ticket.released:  # _commit(), inlined
                    ticket.waiting.clear()
                    if scope._ready is None:
                        scope._ready = []
                    scope._ready.append(ticket.intent)
                else:
                    scope._commit(ticket, alias)
        except Exception:  # a commit hook must never raise into the committing code
            logger.exception("airlock: handling the end of %r failed", hook.tickets)
        for scope in touched:
            scope._send_ready(hook.connection_id, now=not hook.shared)

    def _hook_lost(self, hook: CommitHook, error: BaseException) -> None:
        """Django will never run ``hook`` (an interrupt stopped the commit hooks): each of its
        live tickets fails with ``error``."""
        self._live[hook.connection_id] -= 1  # type: ignore[index]
        for ticket in hook.tickets:
            if ticket.fate is None:
                ticket.scope._roll_back(ticket, error, _events.FAILED)

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

    def _roll_back(self, ticket: Ticket, detail: Any, fate: str = _events.ROLLED_BACK) -> None:
        # The intent will never be sent: it leaves the buffer and gets ``fate``.
        intent = ticket.intent
        if not ticket.released:
            if self._gone is None:
                self._gone = set()
            self._gone.add(id(intent))
            key = intent.key
            if key is not None and self._keys is not None and self._keys.get(key) is intent:
                del self._keys[key]  # a retry may enqueue the same key again
        self.settle(intent, fate, detail)

    def _send_ready(self, connection_id: int, now: bool) -> None:
        # One commit runs all our hooks on that connection in a row: send when the last has
        # run. ``now``: a hook of a TestCase, which captureOnCommitCallbacks may run alone.
        if self._ready and (now or not (self._live or {}).get(connection_id)):
            batch, self._ready = self._ready, None
            self.schedule_dispatch(functools.partial(self._send, batch))

    # -- fates -----------------------------------------------------------------------------
    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        """Record a fate; also close the intent's ticket and send the matching signal."""
        ticket = self._tickets.pop(id(intent), None) if self._tickets else None
        if ticket is not None:
            ticket.fate = fate
        Scope.settle(self, intent, fate, detail)
        sender = type(self)
        if fate == _events.DISPATCHED:
            if signals.intent_dispatched.receivers:
                signals.send(signals.intent_dispatched, sender, intent=intent, scope=self)
        elif fate == _events.FAILED:
            logger.error("airlock: dispatching %r failed", intent, exc_info=detail)
            signals.send(signals.intent_failed, sender, intent=intent, scope=self, error=detail)
        elif fate == _events.ROLLED_BACK:
            signals.send(
                signals.intent_rolled_back, sender, intent=intent, scope=self, alias=detail
            )

    def settle_all(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        """``settle`` each intent; a run of dispatched ones nobody listens to in one step."""
        if (
            fate != _events.DISPATCHED
            or _events.listeners
            or signals.intent_dispatched.receivers
            or type(self).settle is not DjangoScope.settle
        ):
            Scope.settle_all(self, intents, fate, detail)
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
        if self._buffer is None and self._state is _EXITED:  # an empty request
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
                else:  # dropped by a policy here, or captured by an enclosing non-Django scope
                    ticket.fate = _events.DROPPED
            self._tickets = waiting
        return released

    def discard(self) -> list[Intent]:
        if self._gone:
            self._prune()
        self._incoming = None
        discarded = Scope.discard(self)
        if discarded:
            signals.send(signals.intents_discarded, type(self), intents=discarded, scope=self)
        return discarded

    def dispatch(self, intents: list[Intent]) -> None:
        """Send the intents whose transactions committed; release the rest to their hooks."""
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
            self.schedule_dispatch(functools.partial(self._send, now))

    def schedule_dispatch(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (which sends one ready batch). Override to change the timing."""
        callback()

    def _send(self, intents: list[Intent]) -> None:
        _dispatch.send(intents, self, self.executor, isolate=True, pinned=self._pinned)
