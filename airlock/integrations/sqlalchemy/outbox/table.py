"""The outbox table as a SQLAlchemy Core ``Table``: the same columns as the Django outbox's.

One row per durable intent: ``task`` is a registry reference (``airlock:<name>`` or
``celery:<name>``), never an import path; ``payload`` is the JSON text of
``airlock._outbox.payload``; ``status`` is ``pending``, ``sent`` or ``dead``. Times are stored in
UTC (``timestamp with time zone`` on PostgreSQL; naive UTC text on SQLite) and read back aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

__all__ = ["DEFAULT_NAME", "UTCDateTime", "make_table", "utcnow"]

DEFAULT_NAME = "airlock_outbox_message"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, whatever the database keeps (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"outbox times must be aware datetimes, got {value!r}")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def make_table(metadata: MetaData, name: str = DEFAULT_NAME, *, schema: str | None = None) -> Table:
    """The outbox ``Table`` on ``metadata`` (the one already there if ``metadata`` has it)."""
    key = f"{schema}.{name}" if schema else name
    if key in metadata.tables:
        return metadata.tables[key]
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("message_id", String(255), nullable=False, index=True),
        Column("task", String(255), nullable=False, index=True),
        Column("payload", Text, nullable=False),
        Column("status", String(16), nullable=False, default="pending"),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=False, default=""),
        Column("created_at", UTCDateTime, nullable=False, default=utcnow, index=True),
        Column("available_at", UTCDateTime, nullable=False, default=utcnow),
        Column("sent_at", UTCDateTime, nullable=True),
        Column("ordering_key", String(255), nullable=True),
        Index(f"{name}_ready", "status", "available_at"),
        # the relay's "is an earlier row of this key still pending?" probe
        Index(f"{name}_key_order", "ordering_key", "status", "id"),
        schema=schema,
    )
