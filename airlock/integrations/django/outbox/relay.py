"""The Django relay: the shared relay (``airlock._outbox.relay``) on the ``OutboxMessage`` table.

Every rule (claiming with ``SKIP LOCKED``, ordering keys, retries with backoff, dead rows,
``stop``) lives in the shared relay, documented there; this module only answers its storage
questions with the ORM. Each executor call runs in a savepoint of its own, since a task run
in-process shares the relay's connection: a task that fails, even with a database error that
aborts PostgreSQL's transaction, takes back only its own writes, and a task that caught a
database error itself and returned counts as failed (its transaction is marked for rollback).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import DatabaseError, close_old_connections, connections, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from airlock import _config
from airlock._intent import Intent
from airlock._outbox import payload
from airlock._outbox import relay as shared
from airlock._outbox.relay import Counts, backoff
from airlock.exceptions import BadRow
from airlock.integrations.django.outbox import conf, recorder
from airlock.typing import Executor

__all__ = ["BadRow", "Counts", "Relay", "backoff", "decode", "revive"]


def decode(reference: str, payload_text: str) -> Intent:
    """Rebuild the intent a row stores; ``BadRow`` when anything in it is not as written."""
    return payload.decode(reference, payload_text, parse_datetime)[0]


class Relay(shared.Relay):
    """Sends ready outbox rows; ``run_batch()`` once, ``drain()`` until empty, ``run()`` forever.

    ``executor`` defaults to ``AIRLOCK["OUTBOX"]["EXECUTOR"]``, else the configured one
    (``AIRLOCK["EXECUTOR"]``); an intent with an
    ``executor`` dispatch option goes to that named executor. Not thread-safe: one per thread.
    """

    parse_datetime = staticmethod(parse_datetime)

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        batch_size: int | None = None,
        database: str | None = None,
        settings: conf.OutboxSettings | None = None,
    ) -> None:
        from airlock.integrations.django.outbox.models import OutboxMessage

        super().__init__()
        current = recorder.current_settings()  # also registers TASKS and CELERY_APP
        self.settings = settings or current
        if executor is None and self.settings.executor is not None:
            executor = _config.resolve_executor(self.settings.executor, 'OUTBOX["EXECUTOR"]')
        self.executor = executor
        self.batch_size = batch_size or self.settings.batch_size
        self.alias = database or self.settings.database or router.db_for_write(OutboxMessage)
        self._rows = OutboxMessage.objects.using(self.alias)

    # -- storage ----------------------------------------------------------------------------
    @property
    def claims_rows(self) -> bool:
        """True where the database can lock claimed rows, so several relays may run."""
        return bool(connections[self.alias].features.has_select_for_update)

    def backlog(self) -> int:
        """How many rows are ready to send now."""
        return int(self._ready().count())

    def _now(self) -> datetime:
        return timezone.now()

    def _batch(self) -> Any:
        return transaction.atomic(using=self.alias)

    def _ready(self) -> Any:
        return self._rows.filter(status="pending", available_at__lte=timezone.now())

    def _claim(self) -> list[Any]:
        earlier = self._rows.filter(
            ordering_key=OuterRef("ordering_key"), status="pending", id__lt=OuterRef("id")
        )
        rows = self._ready().filter(Q(ordering_key__isnull=True) | ~Exists(earlier))
        rows = rows.order_by("available_at", "id")
        features = connections[self.alias].features
        if features.has_select_for_update:
            rows = rows.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
        return list(rows[: self.batch_size])

    def _after(self, keys: list[str], after: int, limit: int) -> list[Any]:
        rows = self._rows.filter(ordering_key__in=keys, status="pending", id__gt=after)
        return list(rows.order_by("id")[:limit])

    @contextmanager
    def _guard(self) -> Iterator[None]:
        with transaction.atomic(using=self.alias):
            yield
            if connections[self.alias].needs_rollback:
                raise DatabaseError(
                    "the task caught a database error and returned: its writes are rolled back"
                )

    def _set_sent(self, ids: list[int]) -> None:
        self._rows.filter(pk__in=ids).update(
            status="sent", sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )

    def _set_retry(self, row: Any, attempts: int, message: str, available_at: datetime) -> None:
        self._rows.filter(pk=row.pk).update(
            attempts=attempts, last_error=message, available_at=available_at
        )

    def _set_dead(self, row: Any, message: str, attempts: int) -> None:
        self._rows.filter(pk=row.pk).update(status="dead", last_error=message, attempts=attempts)

    def _refresh(self) -> None:
        if not connections[self.alias].in_atomic_block:  # e.g. a test's transaction
            close_old_connections()  # a broken or expired connection is replaced

    def _undecided_message(self) -> str:
        return (
            "undecided: its process ended before the scope decided or "
            'sent it (AIRLOCK["OUTBOX"]["UNDECIDED"] = "dead"); retry it from '
            "the admin if it should go"
        )


def revive(rows: Any, note: str = "retried") -> int:
    """Make dead rows pending again with a fresh set of attempts; returns how many."""
    count = 0
    for row in rows.filter(status="dead"):
        row.status = "pending"
        row.attempts = 0
        row.available_at = timezone.now()
        row.last_error = f"{note} after: {row.last_error}"[:10000]
        row.save(update_fields=["status", "attempts", "available_at", "last_error"])
        count += 1
    return count
