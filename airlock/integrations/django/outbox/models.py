"""The outbox table: one row per durable intent, written in the transaction that enqueued it."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone

__all__ = ["OutboxMessage"]


class OutboxMessage(models.Model):
    """A durable intent waiting to be sent, sent, or dead (given up on, with its error).

    ``task`` is a registry reference (``airlock:<name>`` or ``celery:<name>``), never an import
    path; ``payload`` is JSON text holding args, kwargs, dispatch options, name, origin and key.
    ``message_id`` (the intent's key, else its id) goes with every send as the message id.
    ``ordering_key`` (None: unordered) makes the relay send the rows sharing it one at a time,
    oldest first (see ``relay``); its scope releases it to the relay by setting ``available_at``
    to ``created_at``.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENT = "sent", "sent"
        DEAD = "dead", "dead"

    message_id: models.CharField[str, str] = models.CharField(max_length=255, db_index=True)
    task: models.CharField[str, str] = models.CharField(max_length=255, db_index=True)
    payload: models.TextField[str, str] = models.TextField()
    status: models.CharField[str, str] = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts: models.PositiveIntegerField[int, int] = models.PositiveIntegerField(default=0)
    last_error: models.TextField[str, str] = models.TextField(blank=True, default="")
    created_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )
    available_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now
    )
    sent_at: models.DateTimeField[datetime | None, datetime | None] = models.DateTimeField(
        null=True, blank=True
    )
    ordering_key: models.CharField[str | None, str | None] = models.CharField(
        max_length=255, null=True, blank=True
    )

    class Meta:
        db_table = "airlock_outbox_message"
        verbose_name = "outbox message"
        indexes = [
            models.Index(fields=["status", "available_at"], name="airlock_outbox_ready"),
            # the relay's "is an earlier row of this key still pending?" probe
            models.Index(fields=["ordering_key", "status", "id"], name="airlock_outbox_key_order"),
        ]

    def __str__(self) -> str:
        return f"{self.task} [{self.status}] #{self.pk}"
