from django.apps import AppConfig


class InboxE2EConfig(AppConfig):
    name = "integrations.inbox"
    label = "airlock_e2e_inbox"
    default_auto_field = "django.db.models.BigAutoField"
