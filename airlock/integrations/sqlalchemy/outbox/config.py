"""``Outbox``: where durable intents of SQLAlchemy sessions are written, and how they are relayed.

An ``Outbox`` holds the table (on your ``MetaData`` or its own), the settings the Django outbox
reads from ``AIRLOCK["OUTBOX"]`` (same names, lower case, same defaults), and an optional engine
for intents enqueued outside any session transaction and for the relay. ``install()`` makes
``SQLAlchemyScope`` write the rows; ``relay(engine)`` builds the relay that sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, Table
from sqlalchemy.engine import Engine

from airlock._config import import_string
from airlock._outbox import registry
from airlock._outbox.settings import OutboxSettings
from airlock.integrations.sqlalchemy.outbox.table import DEFAULT_NAME, make_table

if TYPE_CHECKING:
    from airlock.integrations.sqlalchemy.outbox.relay import Relay
    from airlock.typing import Executor

__all__ = ["Outbox"]

_UNDECIDED = ("send", "dead")


def _seconds(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"Outbox({name}=...) must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Outbox({name}=...) must be an integer >= 1, got {value!r}")
    return value


class Outbox:
    """The SQLAlchemy outbox: its table, its settings, and the relay that sends its rows.

    ``metadata``: the ``MetaData`` to define the table on (so ``metadata.create_all`` and
    Alembic's autogenerate see it); None: a ``MetaData`` of its own (``outbox.metadata``).
    ``durable``: False (only intents with ``_dispatch_options={"durable": True}`` or an
    ``ordering_key``), True (every intent), or task names. ``tasks``: dotted paths of tasks to
    register. ``engine`` (sync): where an intent enqueued outside any session transaction is
    written (committed at once), where the fates of an ``AsyncSession``'s rows are recorded
    (required there), and the relay's default. The rest as ``AIRLOCK["OUTBOX"]`` in Django.
    """

    def __init__(
        self,
        metadata: MetaData | None = None,
        *,
        table_name: str = DEFAULT_NAME,
        schema: str | None = None,
        engine: Engine | None = None,
        durable: bool | Iterable[str] = False,
        tasks: Iterable[str] = (),
        executor: Executor | str | None = None,
        celery_app: str | None = None,
        grace: float = 60.0,
        undecided: str = "send",
        max_attempts: int = 10,
        backoff: float = 2.0,
        max_backoff: float = 600.0,
        batch_size: int = 100,
        interval: float = 1.0,
    ) -> None:
        if metadata is not None and not isinstance(metadata, MetaData):
            raise TypeError(f"Outbox(metadata=...) must be a sqlalchemy.MetaData, got {metadata!r}")
        if engine is not None and (not isinstance(engine, Engine) or engine.dialect.is_async):
            raise TypeError(
                f"Outbox(engine=...) must be a sync sqlalchemy Engine, got {engine!r}: with an "
                "AsyncEngine, create a sync engine on the same database (e.g. "
                "postgresql+psycopg://... beside postgresql+asyncpg://...)"
            )
        if isinstance(durable, str) or not (
            isinstance(durable, bool) or all(isinstance(n, str) for n in durable)
        ):
            raise TypeError(
                f"Outbox(durable=...) must be True, False or a list of task names, got {durable!r}"
            )
        tasks = tuple(tasks) if not isinstance(tasks, str) else (tasks,)
        if not all(isinstance(t, str) for t in tasks):
            raise TypeError(f"Outbox(tasks=...) must be dotted paths, got {tasks!r}")
        if undecided not in _UNDECIDED:
            raise ValueError(
                f'Outbox(undecided=...) must be "send" or "dead", got {undecided!r} ("send" '
                'relays them, "dead" parks them for review)'
            )
        if executor is not None and not isinstance(executor, str) and not callable(executor):
            raise TypeError("Outbox(executor=...) must be an executor or its dotted path")
        self.metadata = metadata if metadata is not None else MetaData()
        self.table: Table = make_table(self.metadata, table_name, schema=schema)
        self.engine = engine
        self.settings = OutboxSettings(
            durable=durable if isinstance(durable, bool) else frozenset(durable),
            tasks=tasks,
            executor=executor,
            celery_app=celery_app,
            database=None,
            grace=_seconds("grace", grace),
            undecided=undecided,
            max_attempts=_count("max_attempts", max_attempts),
            backoff=_seconds("backoff", backoff),
            max_backoff=_seconds("max_backoff", max_backoff),
            batch_size=_count("batch_size", batch_size),
            interval=_seconds("interval", interval),
        )
        self._loaded = False

    def load_tasks(self) -> None:
        """Register ``tasks`` and look Celery names up in ``celery_app`` (once)."""
        if self._loaded:
            return
        registry.load(self.settings.tasks)
        if self.settings.celery_app is not None:
            registry.use_celery_app(import_string(self.settings.celery_app))
        self._loaded = True

    def create_table(self, bind: Engine | Any) -> None:
        """Create the table (and its indexes) if it does not exist; for tests and quick starts
        (use ``metadata.create_all`` or a migration in an application)."""
        self.table.create(bind, checkfirst=True)

    def install(self) -> Outbox:
        """Make ``SQLAlchemyScope`` write this outbox's rows (one outbox per process); returns
        the outbox."""
        from airlock.integrations.sqlalchemy.outbox import recorder

        self.load_tasks()
        recorder.install(self)
        return self

    def uninstall(self) -> None:
        """Stop writing rows (rows already written stay for the relay)."""
        from airlock.integrations.sqlalchemy.outbox import recorder

        recorder.uninstall(self)

    def relay(
        self,
        engine: Engine | None = None,
        *,
        executor: Executor | None = None,
        batch_size: int | None = None,
    ) -> Relay:
        """A relay for this outbox's table on ``engine`` (default: the outbox's engine)."""
        from airlock.integrations.sqlalchemy.outbox.relay import Relay

        return Relay(self, engine, executor=executor, batch_size=batch_size)

    def __repr__(self) -> str:
        return f"<Outbox {self.table.fullname}>"
