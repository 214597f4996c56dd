"""Admin for the inbox: browse applied messages by task and time, search by message id."""

from __future__ import annotations

from django.contrib import admin

from airlock.integrations.django.inbox.models import InboxMessage


@admin.register(InboxMessage)
class InboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("message_id", "task", "processed_at")
    list_filter = ("task",)
    search_fields = ("message_id", "task")
    date_hierarchy = "processed_at"
    ordering = ("-processed_at",)

    def has_add_permission(self, request: object) -> bool:  # rows come from workers only
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
