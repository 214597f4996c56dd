from django.apps import AppConfig


class AirlockConfig(AppConfig):
    name = "airlock.integrations.django"
    label = "airlock_django"
    verbose_name = "airlock"
