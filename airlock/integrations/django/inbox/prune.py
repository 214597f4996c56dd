"""Deleting inbox rows older than the retention, in batches (short transactions, no long lock)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connections, router, transaction
from django.utils import timezone

from airlock.integrations.django.inbox.core import TABLE

__all__ = ["aliases", "prune"]


def aliases() -> list[str]:
    """The databases that may hold inbox rows: the router allows the model and the table exists."""
    from airlock.integrations.django.inbox.models import InboxMessage

    found = []
    for alias in connections:
        if not router.allow_migrate_model(alias, InboxMessage):
            continue
        with connections[alias].cursor() as cursor:
            if TABLE in connections[alias].introspection.table_names(cursor):
                found.append(alias)
    return found


def prune(alias: str, days: float, *, batch_size: int = 5000, now: datetime | None = None) -> int:
    """Delete the rows of ``alias`` processed more than ``days`` ago; return how many."""
    from airlock.integrations.django.inbox.models import InboxMessage

    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = InboxMessage.objects.using(alias).filter(processed_at__lt=cutoff)
    total = 0
    while True:
        with transaction.atomic(using=alias):
            ids = list(old.values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total
            deleted, _ = InboxMessage.objects.using(alias).filter(pk__in=ids).delete()
        total += deleted
