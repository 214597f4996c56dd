"""Enqueue side of the SQLAlchemy outbox: write durable intents in the session's transaction.

``record`` runs as an intent enters a ``SQLAlchemyScope`` buffer (the scope's ``buffer_hooks``),
before the scope ties it to its sessions: the row is inserted through the session the intent
waits for (the first of them when it waits for several), inside whatever transaction or
``begin_nested()`` savepoint is open, so a rollback removes it with the data, and an argument
the codec cannot keep fails right there. An intent enqueued while no session is in a
transaction is written with the outbox's ``engine``, committed at once (none: ``UsageError``).

Then the fate events keep the row honest, as in the Django outbox: dispatched in-process ->
``sent``; the executor raised -> left for the relay with a backoff; dropped or discarded ->
deleted. These later writes go through the engine (the session's transaction is over by then);
a row whose process dies first stays ``pending`` and the relay takes it after ``grace``. An
intent with an ``ordering_key`` is only handed to the relay (``handoff``), as in Django.

An ``AsyncSession`` cannot write from ``enqueue``: its row is encoded there and inserted on the
session's connection right before the transaction's COMMIT (``deferred``); its fate updates use
the outbox's ``engine``, a sync engine on the same database (without one: ``UsageError``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from airlock import _dispatch, _events
from airlock._intent import Intent
from airlock._outbox import payload, registry
from airlock._outbox.relay import backoff
from airlock.exceptions import UsageError
from airlock.integrations.sqlalchemy._transactions import open_sessions
from airlock.integrations.sqlalchemy.outbox import deferred
from airlock.integrations.sqlalchemy.outbox.table import utcnow

if TYPE_CHECKING:
    from airlock.integrations.sqlalchemy.outbox.config import Outbox

__all__ = ["forget", "handoff", "install", "installed", "record", "uninstall"]

logger = logging.getLogger("airlock.outbox")


@dataclass
class _Row:
    engine: Engine  # where the fate updates go
    id: int | None  # None while its insert waits for the commit (AsyncSession)
    ordered: bool
    session: weakref.ReferenceType[Session] | None = None
    transaction: Any = None  # the session's root transaction the row was (to be) written in
    pending: Any = None  # the insert still to run at the commit; cleared once it has a fate


_outbox: Outbox | None = None
_rows: dict[str, _Row] = {}  # intent id -> its row, for rows this process has not settled
_unsubscribe: Any = None
_replaced: list[Any] = []  # the ordering-key route install() replaced, put back by uninstall()
_lock = threading.Lock()


def installed() -> Outbox | None:
    """The installed outbox, if any."""
    return _outbox


def record(scope: Any, intent: Intent) -> None:
    """Insert the outbox row for ``intent`` if it is durable (once, even if captured again).

    ``TypeError`` when the task is not registered, the codec cannot keep an argument or the
    ordering key is not a string of 1 to 255 characters; ``ValueError`` for an ordering key on
    an intent marked ``durable: False``; ``UsageError`` when there is nowhere to write it.
    """
    outbox = _outbox
    if outbox is None:
        return
    key = payload.ordering_key(intent)
    if not payload.is_durable(intent, outbox.settings) or intent.id in _rows:
        return
    now = utcnow()
    values = {
        "message_id": intent.key or intent.id,
        "task": registry.reference_for(intent.task),
        "payload": payload.encode(intent),
        "status": "pending",
        "attempts": 0,
        "last_error": "",
        "created_at": now,
        "available_at": now + timedelta(seconds=outbox.settings.grace),
        "ordering_key": key,
    }
    statement = insert(outbox.table).values(values)
    sessions = scope.using if scope.using is not None else open_sessions()
    sessions = [s for s in sessions if s.in_transaction()]
    if sessions:
        session = sessions[0]
        bind = session.get_bind(clause=outbox.table)
        engine = bind if isinstance(bind, Engine) else bind.engine
        if engine.dialect.is_async:  # no I/O here (it needs the event loop): at the COMMIT
            if outbox.engine is None:
                raise UsageError(
                    f"durable intent {intent} under an AsyncSession: the outbox records its "
                    "fate after the commit with a sync engine; pass Outbox(engine=...) a sync "
                    "engine on the same database (e.g. postgresql+psycopg://...)"
                )
            entry = _Row(outbox.engine, None, key is not None, pending=statement)
            entry.transaction = session.get_transaction()
            deferred.defer(session, entry)
            _track(intent.id, entry)
            return
        # The session's connection, in its current transaction or savepoint; no autoflush of
        # the caller's pending objects.
        written: Any = session.connection(bind_arguments={"clause": outbox.table}).execute(
            statement
        )
        entry = _Row(engine, written.inserted_primary_key[0], key is not None)
        entry.session = weakref.ref(session)
        entry.transaction = session.get_transaction()
    elif outbox.engine is not None:
        with outbox.engine.begin() as connection:
            committed: Any = connection.execute(statement)
        entry = _Row(outbox.engine, committed.inserted_primary_key[0], key is not None)
    else:
        raise UsageError(
            f"durable intent {intent} was enqueued while no tracked session is in a transaction, "
            "and the outbox has no engine to write it with: enqueue it inside the session's "
            "transaction, or pass Outbox(engine=...)"
        )
    _track(intent.id, entry)


def handoff(intent: Intent) -> None:
    """The in-process "executor" of an intent with an ordering key: sends nothing.

    Its ``dispatched`` fate makes the row ready for the relay. ``UsageError`` when this process
    wrote no row for it (a plain ``airlock.Scope`` writes none): it would be lost.
    """
    entry = _rows.get(intent.id)
    if entry is None:
        raise UsageError(
            f"intent {intent} has an ordering_key but no outbox row: ordered intents must be "
            "enqueued in a SQLAlchemyScope with the outbox installed, which writes it"
        )
    if entry.id is None:
        raise UsageError(_UNWRITTEN.format(intent=intent))


_UNWRITTEN = (
    "durable intent {intent}: its AsyncSession committed without the outbox writing its row (a "
    "session joined to an outside connection's transaction?), so the relay has no row for it"
)


def _track(intent_id: str, entry: _Row) -> None:
    # Listen to fate events only while rows wait for one (scopes keep their fastest path).
    global _unsubscribe
    with _lock:
        _rows[intent_id] = entry
        if _unsubscribe is None:
            _unsubscribe = _events.subscribe(_on_event)


def _settle(intent_id: str) -> _Row | None:
    global _unsubscribe
    with _lock:
        entry = _rows.pop(intent_id, None)
        if entry is not None:
            entry.pending = None  # decided: a row not written yet never will be
        if not _rows and _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
    return entry


def forget(intent_id: str | None = None) -> None:
    """Stop following one row (all when None), as if this process had died (tests use it)."""
    for key in [intent_id] if intent_id is not None else list(_rows):
        _settle(key)


def _on_event(event: str, intent: Intent, scope: Any, detail: Any) -> None:
    if not _rows or event not in _FATES:
        return
    entry = _settle(intent.id)
    outbox = _outbox
    if entry is None or outbox is None or event == _events.ROLLED_BACK:
        return  # a rollback took the row with it
    if entry.id is None:  # never written (AsyncSession): nothing to update or delete
        if event in (_events.DISPATCHED, _events.FAILED):
            logger.error("airlock outbox: " + _UNWRITTEN.format(intent=intent))
        return
    table = outbox.table
    mine = (table.c.id == entry.id) & (table.c.status == "pending")
    try:
        if event == _events.DISPATCHED:
            if entry.ordered:  # released to the relay: available_at = created_at ("decided")
                _write(entry, update(table).where(mine).values(available_at=table.c.created_at))
            else:
                _write(
                    entry,
                    update(table)
                    .where(mine)
                    .values(status="sent", sent_at=utcnow(), attempts=table.c.attempts + 1),
                )
        elif event == _events.FAILED:
            _write(entry, _failed(outbox, mine, detail))
        else:  # dropped or discarded: it will never go
            _delete(entry, delete(table).where(mine))
    except Exception:
        logger.exception(
            "airlock outbox: could not record the fate %r of %s (row #%s); the relay settles it",
            event,
            intent,
            entry.id,
        )


_FATES = frozenset(
    (_events.DISPATCHED, _events.FAILED, _events.DROPPED, _events.DISCARDED, _events.ROLLED_BACK)
)


def _failed(outbox: Outbox, mine: Any, error: BaseException) -> Any:
    message = f"{type(error).__name__}: {error}"
    settings = outbox.settings
    statement = update(outbox.table).where(mine)
    if settings.max_attempts <= 1:
        return statement.values(status="dead", attempts=1, last_error=message)
    return statement.values(
        attempts=1, last_error=message, available_at=utcnow() + backoff(1, settings)
    )


def _write(entry: _Row, statement: Any) -> None:
    with entry.engine.begin() as connection:
        connection.execute(statement)


def _delete(entry: _Row, statement: Any) -> None:
    # Still in the transaction that wrote it: delete it there (no other connection sees it).
    session = entry.session() if entry.session is not None else None
    current = session.get_transaction() if session is not None else None
    if session is not None and current is not None and current is entry.transaction:
        if current.is_active:
            session.connection(bind_arguments={"clause": statement.table}).execute(statement)
        return  # an inactive transaction can only roll back, taking the row with it
    _write(entry, statement)


def install(outbox: Outbox) -> None:
    """Hook ``outbox`` into ``SQLAlchemyScope`` buffers (replacing any other outbox)."""
    global _outbox
    from airlock.integrations.sqlalchemy.scope import buffer_hooks

    _outbox = outbox
    previous = _dispatch.routes.get("ordering_key")
    if previous is not handoff:
        _replaced[:] = [previous] if previous is not None else []
    _dispatch.routes["ordering_key"] = handoff
    if record not in buffer_hooks:
        buffer_hooks.append(record)


def uninstall(outbox: Outbox | None = None) -> None:
    """Unhook the outbox (``outbox``: only if it is the installed one)."""
    global _outbox
    from airlock.integrations.sqlalchemy.scope import buffer_hooks

    if outbox is not None and outbox is not _outbox:
        return
    _outbox = None
    if record in buffer_hooks:
        buffer_hooks.remove(record)
    if _dispatch.routes.get("ordering_key") is handoff:
        del _dispatch.routes["ordering_key"]
        if _replaced:  # e.g. the Django outbox's hand-off
            _dispatch.routes["ordering_key"] = _replaced.pop()
