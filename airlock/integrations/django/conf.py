"""The ``AIRLOCK`` setting: defaults, readers, and applying it to ``airlock.configure()``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from airlock import _config
from airlock._scope import Scope
from airlock.exceptions import UsageError
from airlock.typing import Executor, Policy

__all__ = [
    "DEFAULTS",
    "apply_settings",
    "get_executor",
    "get_executors",
    "get_policy",
    "get_scope_class",
    "get_setting",
    "register_setting",
]

DEFAULTS: dict[str, Any] = {
    "POLICY": "airlock.AllowAll",
    "EXECUTOR": None,
    "SCOPE": "airlock.integrations.django.DjangoScope",
    "SCOPE_KWARGS": {},
    "EXECUTORS": {},
    "OUTSIDE_SCOPE": "raise",
    "COMMANDS": {},
    "STRICT": False,
}
"""Every known key of ``settings.AIRLOCK`` and its default. Extend with ``register_setting``."""


def register_setting(name: str, default: Any) -> None:
    """Declare another ``AIRLOCK`` key (for features such as the outbox), with its default."""
    DEFAULTS.setdefault(name, default)


def user_settings() -> Mapping[str, Any]:
    """``settings.AIRLOCK`` as the user wrote it (an empty dict when absent)."""
    value = getattr(settings, "AIRLOCK", None)
    return value if value is not None else {}


def get_setting(name: str) -> Any:
    """The value of ``AIRLOCK[name]``, or its default; ``UsageError`` for an unknown name."""
    if name not in DEFAULTS:
        raise UsageError(
            f"unknown airlock setting {name!r}; known settings: {', '.join(sorted(DEFAULTS))}"
        )
    user = user_settings()
    return user[name] if isinstance(user, Mapping) and name in user else DEFAULTS[name]


def get_policy() -> Policy:
    """The ``POLICY`` setting as a policy instance (a dotted path or class is instantiated)."""
    return _config.resolve_policy(get_setting("POLICY"))


def get_executors() -> dict[str, Executor]:
    """The ``EXECUTORS`` setting resolved: name -> executor."""
    table = get_setting("EXECUTORS") or {}
    return {
        str(name): _config.resolve_executor(value, f"AIRLOCK['EXECUTORS'][{name!r}]")
        for name, value in table.items()
    }


def get_executor() -> Executor | None:
    """The ``EXECUTOR`` setting resolved; None means the sync executor.

    A string without a dot names an entry of ``EXECUTORS``.
    """
    value = get_setting("EXECUTOR")
    if value is None:
        return None
    if isinstance(value, str) and "." not in value:
        table = get_setting("EXECUTORS") or {}
        if value not in table:
            raise UsageError(
                f"AIRLOCK['EXECUTOR'] = {value!r} names no entry of AIRLOCK['EXECUTORS'] "
                f"(known: {', '.join(sorted(table)) or 'none'})"
            )
        return _config.resolve_executor(table[value], f"AIRLOCK['EXECUTORS'][{value!r}]")
    return _config.resolve_executor(value, "AIRLOCK['EXECUTOR']")


def get_scope_class() -> type[Scope]:
    """The ``SCOPE`` setting resolved to a ``Scope`` subclass."""
    return _config._resolve_scope_cls(get_setting("SCOPE"))


class MisconfiguredScope(Scope):
    """Stands in for the configured scope while ``AIRLOCK`` is invalid: using it raises."""

    errors: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImproperlyConfigured(
            "settings.AIRLOCK is invalid, so airlock cannot open a scope; run "
            "`manage.py check` for details:\n" + "\n".join(self.errors)
        )


def apply_settings() -> None:
    """Reset airlock's process-wide configuration from ``settings.AIRLOCK``.

    Called by the app's ``ready()`` and whenever the setting changes in tests. Invalid settings
    never raise here (``manage.py check`` reports them); instead every scope raises
    ``ImproperlyConfigured`` until they are fixed, so nothing runs with a wrong executor.
    """
    from airlock.integrations.django.checks import check_settings

    _config.reset_configuration()
    errors = [e for e in check_settings() if e.is_serious()]
    if errors:
        messages = tuple(f"{e.obj}: ({e.id}) {e.msg}" for e in errors)
        broken = type("MisconfiguredScope", (MisconfiguredScope,), {"errors": messages})
        _config.configure(scope_cls=broken)
        return
    _config.configure(
        scope_cls=get_scope_class(),
        policy=get_policy(),
        executor=get_executor(),
        scope_kwargs=dict(get_setting("SCOPE_KWARGS") or {}),
        executors=get_executors(),
        outside_scope=get_setting("OUTSIDE_SCOPE"),
        strict=get_setting("STRICT"),
    )
