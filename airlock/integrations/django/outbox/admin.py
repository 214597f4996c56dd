"""Admin for the outbox: browse rows by status, task and age; retry dead ones; purge sent ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import revive


class AgeFilter(admin.SimpleListFilter):
    """Rows by how long ago they were written."""

    title = "age"
    parameter_name = "age"
    _choices = {
        "1h": ("older than an hour", 1),
        "1d": ("older than a day", 24),
        "7d": ("older than a week", 24 * 7),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(k, label) for k, (label, _) in self._choices.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        choice = self._choices.get(self.value() or "")
        if choice is None:
            return queryset
        return queryset.filter(created_at__lt=timezone.now() - timedelta(hours=choice[1]))


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "task",
        "status",
        "ordering_key",
        "attempts",
        "created_at",
        "available_at",
        "sent_at",
        "short_error",
    )
    list_filter = ("status", "task", AgeFilter)
    search_fields = ("message_id", "task", "ordering_key", "last_error")
    readonly_fields = ("message_id", "task", "payload", "created_at", "sent_at")
    ordering = ("-id",)
    actions = ["retry_dead", "purge_sent"]

    @admin.display(description="last error")
    def short_error(self, row: OutboxMessage) -> str:
        return str(row.last_error)[:80]

    @admin.action(description="Retry selected dead rows")
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = revive(queryset, note=f"retried from the admin by {request.user}")
        self.message_user(request, f"{count} dead row(s) queued for another try.", messages.SUCCESS)

    @admin.action(description="Purge selected sent rows")
    def purge_sent(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count, _ = queryset.filter(status=OutboxMessage.Status.SENT).delete()
        self.message_user(request, f"{count} sent row(s) purged.", messages.SUCCESS)
