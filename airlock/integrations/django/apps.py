"""The Django app: applies ``settings.AIRLOCK`` to airlock and registers the system checks."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AIRLOCK":
        from airlock.integrations.django.conf import apply_settings

        apply_settings()


class AirlockConfig(AppConfig):
    """``INSTALLED_APPS += ["airlock.integrations.django"]``: configure airlock from settings."""

    name = "airlock.integrations.django"
    label = "airlock_django"
    verbose_name = "airlock"
    #: True once ready() ran in this process; unlike ``apps.is_installed()`` it stays True
    #: under a test's ``available_apps``. The middleware requires it (check ``airlock.E007``).
    loaded = False

    def ready(self) -> None:
        AirlockConfig.loaded = True  # on this class: a subclass of it in INSTALLED_APPS counts
        from airlock.integrations.django import checks  # noqa: F401  (registers the checks)
        from airlock.integrations.django.conf import apply_settings

        apply_settings()
        setting_changed.connect(_setting_changed, dispatch_uid="airlock.apply_settings")
