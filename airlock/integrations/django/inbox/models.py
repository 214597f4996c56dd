"""The inbox table: one row per message a task applied, written in the task's own transaction."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone

__all__ = ["InboxMessage"]


class InboxMessage(models.Model):
    """A message id a task has applied; its presence makes every later delivery a duplicate.

    ``message_id`` is the primary key (unique: a second delivery's insert meets the first's row,
    waiting for its transaction while it is still open). ``task`` is the task's name, for the
    admin and for pruning by hand. ``processed_at`` (indexed) is what the retention prunes by.
    """

    message_id: models.CharField[str, str] = models.CharField(max_length=255, primary_key=True)
    task: models.CharField[str, str] = models.CharField(max_length=255, blank=True, default="")
    processed_at: models.DateTimeField[datetime, datetime] = models.DateTimeField(
        default=timezone.now, db_index=True
    )

    class Meta:
        db_table = "airlock_inbox_message"
        verbose_name = "inbox message"

    def __str__(self) -> str:
        return f"{self.task} {self.message_id}"
