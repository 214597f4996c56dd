from __future__ import annotations

from django.apps import AppConfig

from airlock.integrations.django.conf import register_setting

# At import, before any app's ready(): the airlock app validates AIRLOCK's keys in its ready().
register_setting("OUTBOX", {})


class OutboxConfig(AppConfig):
    """Durable dispatch: stores durable intents with the data and relays them later."""

    name = "airlock.integrations.django.outbox"
    label = "airlock_outbox"
    verbose_name = "airlock outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from airlock.integrations.django.outbox import checks, recorder

        checks.register()
        recorder.install()
