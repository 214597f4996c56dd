"""SQLAlchemyScope: intents wait for the session transactions they were enqueued in.

Each intent enqueued while a tracked session (see ``track``) of this thread or task is in a
transaction, or one of the sessions given as ``using=``, gets a ``Ticket`` naming the sessions it
waits for; the session events of ``_transactions`` report each commit and rollback. An intent
goes to its executor once its scope has flushed ("released" it) and each of its sessions
committed; a rolled-back one gets the fate ``rolled_back``. Failures are isolated, as in
``DjangoScope``: each intent settles on its own and nothing raises into committed work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from airlock._intent import Intent
from airlock._scope import Scope
from airlock._transactional import TransactionalScope
from airlock.integrations.sqlalchemy._transactions import (
    Ticket,
    open_sessions,
    sync_sessions,
    tie,
)
from airlock.typing import Executor, Policy

__all__ = ["SQLAlchemyScope"]

# Run first for each intent entering a SQLAlchemyScope buffer (the SQLAlchemy outbox adds its
# recorder); a hook that raises makes the enqueue fail.
buffer_hooks: list[Callable[[SQLAlchemyScope, Intent], None]] = []


class SQLAlchemyScope(TransactionalScope):
    """A scope whose intents wait for the SQLAlchemy session transactions they were enqueued in.

    An intent enqueued while a tracked session began in this thread or asyncio task is in a
    transaction (or while one of the sessions given as ``using=`` is) dispatches only after each
    of those transactions commits, at the later of scope flush and commit, in enqueue order. It
    gets the fate ``rolled_back`` when the transaction, or the ``begin_nested()`` savepoint it
    was enqueued in, rolls back (or the session is closed without committing). Failures are
    isolated: a failing intent is logged (logger ``airlock``), the others still go, and nothing
    raises from the flush or from the commit.
    """

    _buffer_hooks = buffer_hooks
    bare_init = True  # __init__ only records ``using`` when it is given: scope() may skip it

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

    def _tie(self, intent: Intent) -> Ticket | None:
        sessions = self.using if self.using is not None else open_sessions()
        return tie(intent, self, sessions) if sessions else None
