from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "integrations.common"
    label = "airlock_e2e_common"
    default_auto_field = "django.db.models.BigAutoField"
