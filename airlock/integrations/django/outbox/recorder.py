"""Enqueue side of the outbox: write durable intents with the data, then follow their fate.

``record(intent)`` runs as an intent enters a scope's buffer (``DjangoScope.on_buffered`` calls
it), so the row is inserted inside whatever transaction or savepoint is open: a rollback removes
it with the data, and an argument the codec cannot keep (``codec``) fails right there. Then
the fate events keep the row honest: dispatched in-process -> ``sent``; the executor raised ->
left for the relay with a backoff; dropped by a policy or discarded with its scope -> deleted.
A row whose process dies before any of that stays ``pending`` and the relay takes it after
``GRACE`` seconds.

An intent with an ``ordering_key`` option is durable and only the relay sends it (the relay
keeps each key's rows in order; an in-process send could overtake a row of the same key that
waits for a retry). In-process, ``_dispatch`` routes it to ``handoff``, which sends nothing:
its ``dispatched`` fate makes the row ready for the relay at once instead of marking it sent.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import F
from django.utils import timezone

from airlock import _dispatch, _events
from airlock._config import import_string
from airlock._intent import Intent
from airlock._outbox import payload, registry
from airlock._outbox.relay import backoff
from airlock.exceptions import UsageError
from airlock.integrations.django.outbox import conf

__all__ = [
    "encode",
    "forget",
    "handoff",
    "install",
    "is_durable",
    "on_buffered",
    "record",
    "uninstall",
]

logger = logging.getLogger("airlock.outbox")

# intent id -> (alias, row pk) for rows this process wrote and has not yet settled.
_rows: dict[str, tuple[str, int]] = {}
_ordered: set[str] = set()  # the intent ids among those whose row has an ordering key
_settings: conf.OutboxSettings | None = None
_unsubscribe: Any = None
_lock = threading.Lock()


def current_settings() -> conf.OutboxSettings:
    """The outbox settings, cached until Django's ``setting_changed`` signal clears them."""
    global _settings
    if _settings is None:
        settings = conf.settings()
        registry.load(settings.tasks)
        if settings.celery_app is not None:
            registry.use_celery_app(import_string(settings.celery_app))
        _settings = settings
    return _settings


def clear_settings(**_: Any) -> None:
    global _settings
    _settings = None
    registry.use_celery_app(None)


def is_durable(intent: Intent, settings: conf.OutboxSettings | None = None) -> bool:
    """True if ``intent`` goes through the outbox: it has an ``ordering_key``, else its
    ``durable`` option, else the setting."""
    return payload.is_durable(intent, settings or current_settings())


FORMAT = payload.FORMAT
encode = payload.encode  # the row payload: JSON text that ``relay.decode`` reads back


def record(intent: Intent) -> None:
    """Insert the outbox row for ``intent`` if it is durable (once, even if captured again).

    ``TypeError`` when the task is not registered, the codec cannot keep an argument or the
    ordering key is not a string of 1 to 255 characters; ``ValueError`` for an ordering key on
    an intent marked ``durable: False``.
    """
    settings = current_settings()
    ordering_key = _ordering_key(intent)
    if not is_durable(intent, settings) or intent.id in _rows:
        return
    from airlock.integrations.django.outbox.models import OutboxMessage

    reference = registry.reference_for(intent.task)
    payload = encode(intent)
    alias = settings.database or router.db_for_write(OutboxMessage)
    now = timezone.now()
    row = OutboxMessage.objects.using(alias).create(
        message_id=intent.key or intent.id,
        task=reference,
        payload=payload,
        created_at=now,
        available_at=now + timedelta(seconds=settings.grace),
        ordering_key=ordering_key,
    )
    _track(intent.id, (alias, row.pk), ordered=ordering_key is not None)


_ordering_key = payload.ordering_key


def handoff(intent: Intent) -> None:
    """The in-process "executor" of an intent with an ordering key: sends nothing.

    Its ``dispatched`` fate makes the row ready for the relay. ``UsageError`` when this process
    wrote no row for it (a plain ``airlock.Scope`` writes none): it would be lost.
    """
    if intent.id not in _rows:
        raise UsageError(
            f"intent {intent} has an ordering_key but no outbox row: ordered intents must be "
            "enqueued in a DjangoScope (the default scope in a Django project), which writes it"
        )

def _track(intent_id: str, entry: tuple[str, int], *, ordered: bool = False) -> None:
    # Listen to fate events only while rows wait for one: without listeners the scopes keep
    # their fastest dispatch path, so the app costs nothing until something is durable.
    global _unsubscribe
    with _lock:
        _rows[intent_id] = entry
        if ordered:
            _ordered.add(intent_id)
        if _unsubscribe is None:
            _unsubscribe = _events.subscribe(_on_event)


def _settle(intent_id: str) -> tuple[str, int] | None:
    global _unsubscribe
    with _lock:
        entry = _rows.pop(intent_id, None)
        _ordered.discard(intent_id)
        if not _rows and _unsubscribe is not None:
            _unsubscribe()
            _unsubscribe = None
    return entry


def on_buffered(scope: Any, intent: Intent) -> None:
    """The ``DjangoScope`` buffer hook: write the row of a durable intent (a failure refuses
    the enqueue: the intent is then not buffered, so it is never sent without its row)."""
    record(intent)


def forget(intent_id: str | None = None) -> None:
    """Stop following one row (all when None), as if this process had died (tests use it)."""
    for key in [intent_id] if intent_id is not None else list(_rows):
        _settle(key)


def _on_event(event: str, intent: Intent, scope: Any, detail: Any) -> None:
    if not _rows:
        return
    if event == _events.DISPATCHED:
        ordered = intent.id in _ordered
        entry = _settle(intent.id)
        if entry is None:
            pass
        elif ordered:
            _release(*entry)
        else:
            _mark_sent(entry[0], [entry[1]])
    elif event == _events.FAILED:
        entry = _settle(intent.id)
        if entry is not None:
            _mark_failed(*entry, detail)
    elif event in (_events.DROPPED, _events.DISCARDED):
        entry = _settle(intent.id)
        if entry is not None:
            _delete(*entry)
    elif event == _events.ROLLED_BACK:
        _settle(intent.id)  # the rollback took the row with it


def _manager(alias: str) -> Any:
    from airlock.integrations.django.outbox.models import OutboxMessage

    return OutboxMessage.objects.using(alias)


def _mark_sent(alias: str, pks: list[int]) -> None:
    _manager(alias).filter(pk__in=pks, status="pending").update(
        status="sent", sent_at=timezone.now(), attempts=F("attempts") + 1
    )


def _release(alias: str, pk: int) -> None:
    # available_at = created_at marks the row as decided (not "undecided" for the relay)
    _manager(alias).filter(pk=pk, status="pending").update(available_at=F("created_at"))


def _mark_failed(alias: str, pk: int, error: BaseException) -> None:
    settings = current_settings()
    now = timezone.now()
    message = f"{type(error).__name__}: {error}"
    if settings.max_attempts <= 1:
        _manager(alias).filter(pk=pk, status="pending").update(
            status="dead", attempts=1, last_error=message
        )
        return
    _manager(alias).filter(pk=pk, status="pending").update(
        attempts=1, last_error=message, available_at=now + backoff(1, settings)
    )


def _delete(alias: str, pk: int) -> None:
    connection = transaction.get_connection(alias)
    if connection.in_atomic_block and connection.needs_rollback:
        # The block is doomed; if it still commits an outer level, delete then.
        transaction.on_commit(lambda: _delete(alias, pk), using=alias)
        return
    _manager(alias).filter(pk=pk, status="pending").delete()


def install() -> None:
    """Hook into ``DjangoScope`` buffers and settings changes (idempotent)."""
    from django.core.signals import setting_changed

    from airlock.integrations.django.scope import buffer_hooks

    setting_changed.connect(clear_settings, dispatch_uid="airlock_outbox_settings")
    _dispatch.routes["ordering_key"] = handoff
    if on_buffered not in buffer_hooks:
        buffer_hooks.append(on_buffered)


def uninstall() -> None:
    from airlock.integrations.django.scope import buffer_hooks

    if on_buffered in buffer_hooks:
        buffer_hooks.remove(on_buffered)
    _dispatch.routes.pop("ordering_key", None)
