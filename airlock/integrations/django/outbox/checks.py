"""System checks for ``AIRLOCK["OUTBOX"]`` (ids ``airlock_outbox.E001`` ... ``E005``).

E001 an unknown key or a value of the wrong type, E002 a dotted path that does not import,
E003 an ``EXECUTOR`` that is not an executor (not callable, or the path of a module), E004 a
``DATABASE`` that is not an alias of ``settings.DATABASES``, E005 the outbox app installed
without the airlock app. Each message is prefixed with the setting's path.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core import checks

from airlock._config import import_string
from airlock.integrations.django._hints import closest, module_instead
from airlock.integrations.django.apps import AirlockConfig
from airlock.integrations.django.outbox import conf

__all__ = ["check_outbox_settings", "register"]

_AIRLOCK_APP = "airlock.integrations.django"


def check_outbox_settings(**_: Any) -> list[checks.CheckMessage]:
    """Report unknown keys, wrong types, paths that do not import, a wrong executor or alias."""
    errors: list[checks.CheckMessage] = [
        checks.Error(p.message, hint=p.hint, obj=p.where, id="airlock_outbox.E001")
        for p in conf.problems(conf._raw_or_invalid())
    ]
    if not AirlockConfig.loaded:
        errors.append(
            checks.Error(
                f"the outbox app is installed without {_AIRLOCK_APP!r}: scopes are plain "
                "Scopes, which write no outbox rows, so durable intents are not durable",
                hint=f"Add {_AIRLOCK_APP!r} to INSTALLED_APPS.",
                obj="settings.INSTALLED_APPS",
                id="airlock_outbox.E005",
            )
        )
    if errors:
        return errors
    settings = conf.settings()
    paths = [("TASKS", path) for path in settings.tasks]
    if settings.celery_app:
        paths.append(("CELERY_APP", settings.celery_app))
    for key, path in paths:
        try:
            import_string(path)
        except ImportError as exc:
            errors.append(_does_not_import(key, path, exc))
    errors.extend(_check_executor(settings.executor))
    errors.extend(_check_database(settings.database))
    return errors


def _does_not_import(key: str, path: str, exc: ImportError) -> checks.CheckMessage:
    return checks.Error(
        f"{path!r} does not import: {exc}",
        hint="give the full dotted path, e.g. 'shop.tasks.send_receipt'",
        obj=conf.where(key),
        id="airlock_outbox.E002",
    )


def _check_executor(value: Any) -> list[checks.CheckMessage]:
    if value is None:
        return []
    where, hint = conf.where("EXECUTOR"), f"e.g. 'EXECUTOR': {conf.EXECUTOR_EXAMPLE!r}"
    module = module_instead(value)
    if module is not None:
        return [checks.Error(module, hint=hint, obj=where, id="airlock_outbox.E003")]
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            return [_does_not_import("EXECUTOR", value, exc)]
    if callable(value):
        return []
    return [
        checks.Error(
            f"{value!r} is not callable, so the relay cannot send with it",
            hint=f"an executor is a callable executor(intent); {hint}",
            obj=where,
            id="airlock_outbox.E003",
        )
    ]


def _check_database(alias: str | None) -> list[checks.CheckMessage]:
    known = list(django_settings.DATABASES)
    if alias is None or alias in known:
        return []
    close = closest(alias, known)
    return [
        checks.Error(
            f"{alias!r} is not an alias of settings.DATABASES, so every durable enqueue fails",
            hint=(f"did you mean {close!r}? " if close else "")
            + f"known aliases: {', '.join(known)}; None uses the router's choice",
            obj=conf.where("DATABASE"),
            id="airlock_outbox.E004",
        )
    ]


def register() -> None:
    checks.register(check_outbox_settings, "airlock")
