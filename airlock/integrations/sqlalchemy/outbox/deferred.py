"""Durable intents under an ``AsyncSession``: rows inserted just before the database COMMIT.

``airlock.enqueue`` is sync code running on the event loop, so it cannot do an
``AsyncSession``'s I/O. The recorder encodes the row at enqueue (an argument the codec cannot
keep still fails there) and ``defer`` keeps the insert with the session, in ``session.info``.
Two events then write it, both inside SQLAlchemy's greenlet, where the sync session behind the
``AsyncSession`` does I/O:

- the session's ``before_commit`` takes the session's connection for the outbox table and hooks
  that connection's ``commit`` event (once per connection);
- the connection's ``commit`` event fires for the root transaction only, after every savepoint
  was released and right before ``COMMIT`` is sent: it inserts the rows of intents that are
  still undecided, on that connection, in that transaction.

So data and rows commit together or not at all: an insert that fails fails the commit. An intent
rolled back with its ``begin_nested()`` savepoint, dropped or discarded before the commit got its
fate already (``pending`` cleared by the recorder) and gets no row. Writing at ``before_commit``
itself would not do: that event also fires when a savepoint is released, and a row written
there would vanish with an enclosing savepoint that rolls back later while its intent lives on.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from airlock.integrations.sqlalchemy.outbox.recorder import _Row

__all__ = ["defer"]

_KEY = "airlock_outbox_rows"  # our _Waiting in session.info


class _Waiting:
    """The rows one session still has to write, and the connection whose commit writes them."""

    __slots__ = ("__weakref__", "connection", "rows", "session")

    def __init__(self, session: Session) -> None:
        self.session = weakref.ref(session)
        self.rows: list[_Row] = []
        self.connection: weakref.ReferenceType[Connection] | None = None

    def hook(self, session: Session) -> None:
        """``before_commit``: make the commit of the session's connection write the rows."""
        live = [row for row in self.rows if row.pending is not None]
        self.rows = live
        if not live:
            return
        table = live[0].pending.table
        connection = session.connection(bind_arguments={"clause": table})
        if self.connection is None or self.connection() is not connection:
            event.listen(connection, "commit", _writer(self))
            self.connection = weakref.ref(connection)

    def write(self, connection: Connection) -> None:
        """The connection's ``commit``: insert the rows of this transaction still undecided."""
        session = self.session()
        root = session.get_transaction() if session is not None else None
        rows, self.rows = self.rows, []
        for row in rows:
            statement = row.pending
            if statement is None:
                continue  # decided before the commit: rolled back, dropped or discarded
            if row.transaction is not root:
                self.rows.append(row)  # not this transaction's (kept for its own commit)
                continue
            written: Any = connection.execute(statement)
            row.id = written.inserted_primary_key[0]
            row.pending = None


def _writer(waiting: _Waiting) -> Any:
    # The connection's listener holds the session's rows only weakly: a connection kept by a
    # pool or an outer transaction must not keep a closed session's rows alive.
    ref = weakref.ref(waiting)

    def write(connection: Connection) -> None:
        target = ref()
        if target is not None:
            target.write(connection)

    return write


def defer(session: Session, row: _Row) -> None:
    """Write ``row`` (its ``pending`` insert) when ``session``'s transaction commits."""
    waiting: _Waiting | None = session.info.get(_KEY)
    if waiting is None:
        waiting = session.info[_KEY] = _Waiting(session)
        event.listen(session, "before_commit", waiting.hook)
    waiting.rows.append(row)
