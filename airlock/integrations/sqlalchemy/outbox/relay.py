"""The SQLAlchemy relay: the shared relay (``airlock._outbox.relay``) on an ``Outbox``'s table.

Every rule (claiming, ordering keys, retries with backoff, dead rows, ``stop``) lives in the
shared relay, documented there; this module answers its storage questions with SQLAlchemy Core
on a sync ``Engine``. A batch is one transaction on one connection; the claim is
``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, MySQL and MariaDB, so several relays share
the table. SQLite has no row locks (``claims_rows`` is False): run a single relay there. Tasks
sent in-process use connections of their own, so executor calls need no savepoint here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.engine import Connection, Engine

from airlock import _config
from airlock._outbox import relay as shared
from airlock.exceptions import UsageError
from airlock.integrations.sqlalchemy.outbox.table import utcnow
from airlock.typing import Executor

if TYPE_CHECKING:
    from airlock.integrations.sqlalchemy.outbox.config import Outbox

__all__ = ["Relay"]


class Relay(shared.Relay):
    """Sends ready rows of ``outbox``'s table on ``engine``; ``run_batch()``, ``drain()``,
    ``run()``.

    ``executor`` defaults to the outbox's ``executor``, else the configured one
    (``airlock.configure(executor=...)``). Not thread-safe: one per thread.
    """

    def __init__(
        self,
        outbox: Outbox,
        engine: Engine | None = None,
        *,
        executor: Executor | None = None,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        engine = engine if engine is not None else outbox.engine
        if not isinstance(engine, Engine) or engine.dialect.is_async:
            raise UsageError(
                f"the outbox relay needs a sync sqlalchemy Engine, got {engine!r}: pass "
                "outbox.relay(engine) or Outbox(engine=...) (for an AsyncEngine, a sync engine "
                "on the same database, e.g. postgresql+psycopg://...)"
            )
        outbox.load_tasks()
        self.outbox = outbox
        self.engine = engine
        self.table = outbox.table
        self.settings = outbox.settings
        if executor is None and self.settings.executor is not None:
            executor = _config.resolve_executor(self.settings.executor, "Outbox(executor=...)")
        self.executor = executor
        self.batch_size = batch_size or self.settings.batch_size
        self._connection: Connection | None = None

    # -- storage ----------------------------------------------------------------------------
    @property
    def claims_rows(self) -> bool:
        """True where the database can lock claimed rows, so several relays may run."""
        return self.engine.dialect.name != "sqlite"

    def backlog(self) -> int:
        """How many rows are ready to send now."""
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(self.table).where(self._ready())
            return int(connection.execute(query).scalar_one())

    def _now(self) -> datetime:
        return utcnow()

    @contextmanager
    def _batch(self) -> Iterator[None]:
        with self.engine.begin() as connection:
            self._connection = connection
            try:
                yield
            finally:
                self._connection = None

    def _execute(self, statement: Any) -> Any:
        assert self._connection is not None, "outside a batch"
        return self._connection.execute(statement)

    def _ready(self) -> Any:
        t = self.table.c
        return and_(t.status == "pending", t.available_at <= utcnow())

    def _claim(self) -> list[Any]:
        t = self.table.c
        earlier = self.table.alias("earlier")
        head = ~exists().where(
            earlier.c.ordering_key == t.ordering_key,
            earlier.c.status == "pending",
            earlier.c.id < t.id,
        )
        query = (
            select(self.table)
            .where(self._ready(), or_(t.ordering_key.is_(None), head))
            .order_by(t.available_at, t.id)
            .limit(self.batch_size)
        )
        if self.claims_rows:
            query = query.with_for_update(skip_locked=True, of=self.table)
        return list(self._execute(query).all())

    def _after(self, keys: list[str], after: int, limit: int) -> list[Any]:
        t = self.table.c
        query = (
            select(self.table)
            .where(t.ordering_key.in_(keys), t.status == "pending", t.id > after)
            .order_by(t.id)
            .limit(limit)
        )
        return list(self._execute(query).all())

    def _set_sent(self, ids: list[int]) -> None:
        t = self.table.c
        self._execute(
            update(self.table)
            .where(t.id.in_(ids))
            .values(status="sent", sent_at=utcnow(), attempts=t.attempts + 1, last_error="")
        )

    def _set_retry(self, row: Any, attempts: int, message: str, available_at: datetime) -> None:
        self._execute(
            update(self.table)
            .where(self.table.c.id == row.id)
            .values(attempts=attempts, last_error=message, available_at=available_at)
        )

    def _set_dead(self, row: Any, message: str, attempts: int) -> None:
        self._execute(
            update(self.table)
            .where(self.table.c.id == row.id)
            .values(status="dead", last_error=message, attempts=attempts)
        )

    def revive(self, ids: list[int] | None = None, note: str = "retried") -> int:
        """Make dead rows (those of ``ids``, or all) pending again with fresh attempts."""
        t = self.table.c
        where = [t.status == "dead"]
        if ids is not None:
            where.append(t.id.in_(ids))
        prefix = f"{note} after: "
        with self.engine.begin() as connection:
            result = connection.execute(
                update(self.table)
                .where(*where)
                .values(
                    status="pending",
                    attempts=0,
                    available_at=utcnow(),
                    last_error=func.substr(prefix + t.last_error, 1, 10000),
                )
            )
        return int(result.rowcount)
