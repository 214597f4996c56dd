"""The SQLAlchemy outbox: durable intents written in the session's transaction, and their relay.

``Outbox(metadata).install()`` makes ``SQLAlchemyScope`` write each durable intent (marked
``_dispatch_options={"durable": True}``, given an ``ordering_key``, or named in
``Outbox(durable=...)``) to the outbox table in the transaction that enqueued it; register
plain-function tasks with ``register``; run the relay with ``python -m airlock.relay``
(``outbox.relay(engine)`` in code). Same table, payload, registry and relay rules as the Django
outbox. See docs/sqlalchemy-outbox.md.
"""

from __future__ import annotations

from airlock._outbox.registry import register, unregister
from airlock.integrations.sqlalchemy.outbox.config import Outbox
from airlock.integrations.sqlalchemy.outbox.relay import Relay
from airlock.integrations.sqlalchemy.outbox.table import make_table

__all__ = ["Outbox", "Relay", "make_table", "register", "unregister"]
