"""The Django app: applies ``settings.AIRLOCK`` to airlock, registers the system checks, and
runs management commands in a scope (``commands``)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "AIRLOCK":
        from airlock.integrations.django import commands
        from airlock.integrations.django.conf import apply_settings

        apply_settings()
        commands.apply_setting()


class AirlockConfig(AppConfig):
    """``INSTALLED_APPS += ["airlock.integrations.django"]``: configure airlock from settings,
    and run each management command in its airlock mode (see ``commands``)."""

    name = "airlock.integrations.django"
    label = "airlock_django"
    verbose_name = "airlock"
    #: True once ready() ran in this process; unlike ``apps.is_installed()`` it stays True
    #: under a test's ``available_apps``. The middleware requires it (check ``airlock.E007``).
    loaded = False

    def ready(self) -> None:
        AirlockConfig.loaded = True  # on this class: a subclass of it in INSTALLED_APPS counts
        from airlock.integrations.django import checks  # noqa: F401  (registers the checks)
        from airlock.integrations.django.commands import apply_setting
        from airlock.integrations.django.conf import apply_settings

        apply_settings()
        apply_setting()  # wraps BaseCommand.execute unless AIRLOCK["COMMANDS"] = False
        setting_changed.connect(_setting_changed, dispatch_uid="airlock.apply_settings")
