"""System checks for ``settings.AIRLOCK`` (ids ``airlock.E001`` ... ``airlock.E008``).

E001 not a dict, E002 unknown key, E003 a dotted path that does not import, E004 a value of
the wrong kind (a module's path where an object was wanted, too; a bad ``OUTSIDE_SCOPE``,
``COMMANDS`` or ``STRICT`` mode), E005 ``EXECUTOR`` names no entry of ``EXECUTORS``, E006
``SCOPE_KWARGS`` that the scope class does not accept (or an unknown database alias in
``using``), E008 a key whose app is not installed (``OUTBOX``).
E007 (``AirlockMiddleware`` without this app) lives in the middleware module: it must run
when this app is not installed, and then nothing imports this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from django.core.checks import CheckMessage, Error, register

from airlock import _config
from airlock.integrations.django import conf
from airlock.integrations.django._hints import closest, module_instead

__all__ = ["check_settings"]

_EXAMPLES = {
    "POLICY": "'airlock.AllowAll' or an object with on_enqueue(intent) and allows(intent)",
    "EXECUTOR": "'airlock.integrations.executors.sync.sync_executor' or a callable",
    "SCOPE": "'airlock.integrations.django.DjangoScope' or another airlock.Scope subclass",
}


def _where(key: str, entry: str | None = None) -> str:
    return f"settings.AIRLOCK[{key!r}]" + (f"[{entry!r}]" if entry is not None else "")


#: Keys read by an optional app, and that app: without it nothing reads them.
_APP_KEYS = {"OUTBOX": "airlock.integrations.django.outbox"}


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = closest(word, choices)
    return f"Did you mean {close!r}? " if close else ""


def _resolve(
    key: str,
    value: Any,
    resolver: Callable[[Any], Any],
    errors: list[CheckMessage],
    entry: str | None = None,
) -> Any:
    where = _where(key, entry)
    wanted = {"POLICY": "policy", "SCOPE": "scope"}.get(key, "executor")
    module = module_instead(value, wanted)
    if module is not None:
        errors.append(
            Error(
                module,
                hint=f"Use {_EXAMPLES.get(key, 'a callable executor(intent) or its dotted path')}.",
                obj=where,
                id="airlock.E004",
            )
        )
        return None
    try:
        return resolver(value)
    except ImportError as exc:
        errors.append(
            Error(
                f"{value!r} does not import: {exc}",
                hint="Check the spelling of the dotted path and that the module is installed "
                "(write it as 'package.module.name').",
                obj=where,
                id="airlock.E003",
            )
        )
    except (TypeError, ValueError) as exc:
        errors.append(
            Error(
                f"wrong kind of value: {exc}",
                hint=f"Use {_EXAMPLES.get(key, 'a callable executor(intent) or its dotted path')}.",
                obj=where,
                id="airlock.E004",
            )
        )
    return None


def _check_executors(settings: Mapping[str, Any], errors: list[CheckMessage]) -> list[str]:
    table = settings.get("EXECUTORS", {})
    if not isinstance(table, Mapping):
        errors.append(
            Error(
                f"must be a dict of name -> executor, got {table!r}",
                hint="Write it as {'mail': 'myapp.executors.mail_executor', ...}.",
                obj=_where("EXECUTORS"),
                id="airlock.E004",
            )
        )
        return []
    for name, value in table.items():
        if not isinstance(name, str) or not name:
            errors.append(
                Error(
                    f"has a key {name!r} that is not a non-empty string",
                    hint="Executor names are what _dispatch_options={'executor': name} uses.",
                    obj=_where("EXECUTORS"),
                    id="airlock.E004",
                )
            )
            continue
        _resolve("EXECUTORS", value, _config.resolve_executor, errors, entry=name)
    return [str(n) for n in table]


def _check_executor(value: Any, names: list[str], errors: list[CheckMessage]) -> None:
    if value is None:
        return
    if isinstance(value, str) and "." not in value:
        if value not in names:
            errors.append(
                Error(
                    f"{value!r} names no entry of AIRLOCK['EXECUTORS'] "
                    f"(known: {', '.join(sorted(names)) or 'none'})",
                    hint=_did_you_mean(value, names)
                    + "Add it to AIRLOCK['EXECUTORS'] or give a dotted path to an executor.",
                    obj=_where("EXECUTOR"),
                    id="airlock.E005",
                )
            )
        return
    _resolve("EXECUTOR", value, _config.resolve_executor, errors)


def _check_scope_kwargs(scope_cls: Any, kwargs: Any, errors: list[CheckMessage]) -> None:
    where = _where("SCOPE_KWARGS")
    if not isinstance(kwargs, Mapping):
        errors.append(
            Error(
                f"must be a dict of keyword arguments, got {kwargs!r}",
                hint="For example {'using': 'default'}.",
                obj=where,
                id="airlock.E004",
            )
        )
        return
    if scope_cls is None or not kwargs:
        return
    try:
        inspect.signature(scope_cls).bind(**kwargs)
    except TypeError as exc:
        accepted = [
            p.name
            for p in inspect.signature(scope_cls).parameters.values()
            if p.kind is p.KEYWORD_ONLY and p.name != "executor"
        ]
        typo = next((_did_you_mean(k, accepted) for k in kwargs if k not in accepted), "")
        errors.append(
            Error(
                f"does not fit {scope_cls.__name__}: {exc}",
                hint=f"{typo}{scope_cls.__name__} accepts: {', '.join(accepted) or 'nothing'}.",
                obj=where,
                id="airlock.E006",
            )
        )
        return
    try:
        scope_cls(**kwargs)
    except Exception as exc:
        errors.append(
            Error(
                f"is rejected by {scope_cls.__name__}: {exc}",
                hint="Fix the value (database aliases must be keys of settings.DATABASES).",
                obj=where,
                id="airlock.E006",
            )
        )


def _check_outside_scope(value: Any, errors: list[CheckMessage]) -> None:
    try:
        _config.check_outside_scope(value)
    except ValueError:
        modes = [str(m) for m in _config.OUTSIDE_SCOPE_MODES]
        errors.append(
            Error(
                f"{value!r} is not one of {', '.join(map(repr, modes))}",
                hint=_did_you_mean(str(value), modes) + "'raise': enqueue() with no active scope "
                "raises NoScopeError; 'on_commit': each such intent is sent on its own once the "
                "transaction open at enqueue commits (at once outside one).",
                obj=_where("OUTSIDE_SCOPE"),
                id="airlock.E004",
            )
        )


def _check_strict(value: Any, errors: list[CheckMessage]) -> None:
    from airlock import _strict

    try:
        _strict.check_mode(value)
    except ValueError:
        errors.append(
            Error(
                f"{value!r} is not one of False, 'warn', 'raise'",
                hint=_did_you_mean(str(value), ["warn", "raise"]) + "'warn': a StrictModeWarning "
                "once per call site that publishes to a queue directly inside a transaction or a "
                "scope; 'raise': StrictModeError there; False: off (see docs/strict.md).",
                obj=_where("STRICT"),
                id="airlock.E004",
            )
        )


def _check_commands(table: Any, errors: list[CheckMessage]) -> None:
    from airlock.integrations.django.commands import MODES

    if table is False:
        return
    if not isinstance(table, Mapping):
        errors.append(
            Error(
                f"must be False or a dict of command name -> mode, got {table!r}",
                hint="For example {'migrate': 'scope', 'import_orders': False}.",
                obj=_where("COMMANDS"),
                id="airlock.E004",
            )
        )
        return
    names = [str(m) for m in MODES if m is not False]
    for name, mode in table.items():
        if isinstance(name, str) and isinstance(mode, (str, bool)) and mode in (*MODES, True):
            continue
        errors.append(
            Error(
                f"{mode!r} is not a mode"
                if isinstance(name, str)
                else f"has a key {name!r} that is not a command name",
                hint=(_did_you_mean(str(mode), names) if isinstance(mode, str) else "")
                + "Modes: 'scope' (a scope around the command), 'drop' (send nothing it "
                "enqueues), 'on_commit' (each intent on its own, as its transaction commits), "
                "False (untouched). '*' is every command not named.",
                obj=_where("COMMANDS", str(name)),
                id="airlock.E004",
            )
        )


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``settings.AIRLOCK``; every problem is an ``Error`` with an id and a hint."""
    settings = conf.user_settings()
    if not isinstance(settings, Mapping):
        return [
            Error(
                f"must be a dict, got {type(settings).__name__}",
                hint="Write it as AIRLOCK = {'EXECUTOR': ..., 'POLICY': ...}.",
                obj="settings.AIRLOCK",
                id="airlock.E001",
            )
        ]
    errors: list[CheckMessage] = []
    known = sorted({*conf.DEFAULTS, *_APP_KEYS})
    for key in settings:
        if key in conf.DEFAULTS:
            continue
        app = _APP_KEYS.get(key)
        if app is not None:  # the app registers its key at import: it is not installed
            errors.append(
                Error(
                    f"is set, but {app!r} is not in INSTALLED_APPS, so nothing reads it",
                    hint=f"Add {app!r} to INSTALLED_APPS (then run manage.py migrate), "
                    f"or remove AIRLOCK[{key!r}].",
                    obj=_where(key),
                    id="airlock.E008",
                )
            )
        else:
            errors.append(
                Error(
                    f"unknown key {key!r}",
                    hint=f"{_did_you_mean(str(key), known)}Known keys: {', '.join(known)}.",
                    obj=_where(str(key)),
                    id="airlock.E002",
                )
            )
    if "POLICY" in settings:
        _resolve("POLICY", settings["POLICY"], _config.resolve_policy, errors)
    names = _check_executors(settings, errors)
    _check_executor(settings.get("EXECUTOR"), names, errors)
    scope_cls = _resolve("SCOPE", conf.get_setting("SCOPE"), _config._resolve_scope_cls, errors)
    _check_scope_kwargs(scope_cls, settings.get("SCOPE_KWARGS", {}), errors)
    if "OUTSIDE_SCOPE" in settings:
        _check_outside_scope(settings["OUTSIDE_SCOPE"], errors)
    _check_commands(settings.get("COMMANDS", {}), errors)
    if "STRICT" in settings:
        _check_strict(settings["STRICT"], errors)
    return errors


register(check_settings, "airlock")
