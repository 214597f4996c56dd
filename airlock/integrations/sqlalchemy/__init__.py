"""SQLAlchemy integration: scopes whose intents wait for the session transactions.

``track(sessionmaker)`` (or a ``Session``, an ``AsyncSession``, an ``async_sessionmaker``)
makes its sessions tie intents: with ``SQLAlchemyScope`` as the scope class, an intent enqueued
while a tracked session of this thread or asyncio task is in a transaction dispatches after that
transaction commits and is ``rolled_back`` when it (or the ``begin_nested()`` savepoint it was
enqueued in) rolls back. ``SQLAlchemyScope(using=session)`` names the sessions explicitly.
Python runs this file before any submodule, so the guard below names the extra for all of them.
"""

from airlock.integrations._extras import require

with require("sqlalchemy", __name__):
    import sqlalchemy.orm  # noqa: F401

from airlock.integrations.sqlalchemy._transactions import Ticket, track
from airlock.integrations.sqlalchemy.scope import SQLAlchemyScope

__all__ = ["SQLAlchemyScope", "Ticket", "track"]
