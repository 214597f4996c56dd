from __future__ import annotations

from django.apps import AppConfig, apps

from airlock.integrations.django.conf import register_setting

# At import, before any app's ready(): the airlock app validates AIRLOCK's keys in its ready().
register_setting("INBOX", {})


class InboxConfig(AppConfig):
    """Apply-once tasks: the consumer-side inbox table that turns redeliveries into no-ops."""

    name = "airlock.integrations.django.inbox"
    label = "airlock_inbox"
    verbose_name = "airlock inbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from airlock.integrations.django.inbox import checks

        checks.register()
        if apps.is_installed("django_q"):  # hand each task's name to django_q_apply_once
            from django_q.signals import post_execute_in_worker, pre_execute

            from airlock.integrations.django.inbox.fronts import on_post_execute, on_pre_execute

            pre_execute.connect(on_pre_execute, dispatch_uid="airlock.inbox")
            post_execute_in_worker.connect(on_post_execute, dispatch_uid="airlock.inbox")
