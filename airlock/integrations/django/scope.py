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
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connections

from airlock import _events
from airlock._intent import Intent
from airlock._scope import Scope
from airlock._transactional import TransactionalScope
from airlock.exceptions import UsageError
from airlock.integrations.django import signals
from airlock.integrations.django._transactions import CommitHook, Ticket, watch
from airlock.typing import Executor, Policy

__all__ = ["CommitHook", "DjangoScope", "Ticket"]

logger = logging.getLogger("airlock")

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


class DjangoScope(TransactionalScope):
    """A scope whose intents wait for the database.

    An intent enqueued while ``atomic`` is open on some aliases (or on the aliases given as
    ``using=``) dispatches only after each of those transactions commits, at the later of
    scope flush and commit, in enqueue order; it gets the fate ``rolled_back`` (and the
    ``intent_rolled_back`` signal) when the savepoint or transaction it was enqueued in rolls
    back. Failures are isolated: a failing intent is logged and signalled (``intent_failed``),
    the others still go, and nothing raises from the flush. ``schedule_dispatch(callback)``
    decides when a ready batch runs (default: at once).
    """

    _buffer_hooks = buffer_hooks
    bare_init = True  # __init__ only records ``using`` when it is given: scope() may skip it

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

    # connection id -> our hooks on it that have not run or been dropped yet
    _live: dict[int, int] | None = None

    # -- enqueue side ----------------------------------------------------------------------
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
            alias = connection.alias
            if ticket is None:
                ticket = Ticket(intent, self, [alias], (alias,))
            else:
                ticket.waiting.append(alias)
                ticket.tied += (alias,)
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
        return ticket

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
                elif len(ticket.waiting) != 1:
                    scope._commit(ticket, alias)
                elif ticket.released:  # _commit(), inlined: this runs for every intent
                    ticket.waiting.clear()
                    if scope._ready is None:
                        scope._ready = []
                    scope._ready.append(ticket.intent)
                else:  # committed before its scope flushed: from now on it waits for nothing
                    ticket.waiting.clear()
                    scope._tickets.pop(id(ticket.intent), None)
        except Exception:  # a commit hook must never raise into the committing code
            logger.exception("airlock: handling the end of %r failed", hook.tickets)
        for scope in touched:
            # One commit runs all our hooks on that connection in a row: send when the last
            # has run. Not shared: a hook of a TestCase, which captureOnCommitCallbacks may
            # run alone.
            if scope._ready and (
                not hook.shared or not (scope._live or {}).get(hook.connection_id)
            ):
                scope._send_ready()

    def _hook_lost(self, hook: CommitHook, error: BaseException) -> None:
        """Django will never run ``hook`` (an interrupt stopped the commit hooks): each of its
        live tickets fails with ``error``."""
        self._live[hook.connection_id] -= 1  # type: ignore[index]
        for ticket in hook.tickets:
            if ticket.fate is None:
                ticket.scope._roll_back(ticket, error, _events.FAILED)

    # -- fates -----------------------------------------------------------------------------
    def _report(self, intent: Intent, fate: str, detail: Any) -> None:
        """Log a failure, and send the signal that matches the fate."""
        sender = type(self)
        if fate == _events.DISPATCHED:
            if signals.intent_dispatched.receivers:
                signals.send(signals.intent_dispatched, sender, intent=intent, scope=self)
        elif fate == _events.FAILED:
            TransactionalScope._report(self, intent, fate, detail)
            signals.send(signals.intent_failed, sender, intent=intent, scope=self, error=detail)
        elif fate == _events.ROLLED_BACK:
            signals.send(
                signals.intent_rolled_back, sender, intent=intent, scope=self, alias=detail
            )

    def _reports_dispatched(self) -> bool:
        return bool(signals.intent_dispatched.receivers)

    # -- flush side ------------------------------------------------------------------------
    def discard(self) -> list[Intent]:
        discarded = TransactionalScope.discard(self)
        if discarded:
            signals.send(signals.intents_discarded, type(self), intents=discarded, scope=self)
        return discarded

    def schedule_dispatch(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (which sends one ready batch). Override to change the timing."""
        callback()

    def _send_batch(self, intents: list[Intent]) -> None:
        self.schedule_dispatch(functools.partial(self._send, intents))
