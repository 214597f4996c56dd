"""System checks for ``AIRLOCK["OUTBOX"]`` (ids ``airlock_outbox.E001``…)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from airlock.integrations.django.outbox import conf

__all__ = ["check_outbox_settings", "register"]


def check_outbox_settings(**_: Any) -> list[checks.CheckMessage]:
    """Report unknown keys, wrong types, and TASKS entries that do not import."""
    raw = conf._raw_or_invalid()
    errors: list[checks.CheckMessage] = [
        checks.Error(message, hint=hint, id="airlock_outbox.E001")
        for message, hint in conf.problems(raw)
    ]
    if not errors:
        from airlock._config import import_string

        settings = conf.settings()
        paths = [*settings.tasks, *([settings.celery_app] if settings.celery_app else [])]
        if isinstance(settings.executor, str):
            paths.append(settings.executor)
        for path in paths:
            try:
                import_string(path)
            except ImportError as exc:
                errors.append(
                    checks.Error(
                        f'AIRLOCK["OUTBOX"] path {path!r} does not import: {exc}',
                        hint="give the full dotted path, e.g. 'shop.tasks.send_receipt'",
                        id="airlock_outbox.E002",
                    )
                )
    return errors


def register() -> None:
    checks.register(check_outbox_settings, "airlock")
