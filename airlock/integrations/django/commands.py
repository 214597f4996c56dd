"""Management commands run in a scope: the app wraps ``BaseCommand.execute`` once.

Each command (yours, Django's, a third party's, run by ``manage.py`` or ``call_command``) runs
in a mode, looked up by the command's name (its module's last component):
``AIRLOCK["COMMANDS"][name]``, else the command class's ``airlock_scope`` attribute, else
``DEFAULT_COMMANDS[name]``, else ``AIRLOCK["COMMANDS"]["*"]`` (default ``"scope"``).

- ``"scope"``: an ambient scope of the configured kind around the command: what is enqueued
  with no scope of its own is sent once the command returns and its transactions committed, and
  discarded if the command raises. Scopes opened inside keep deciding for their own intents.
- ``"drop"``: everything enqueued while it runs is dropped (``DropAll``), and logged.
- ``"on_commit"``: no scope; each intent enqueued outside one is sent on its own once its
  transaction commits (``OUTSIDE_SCOPE = "on_commit"`` for the command's duration).
- ``False``: untouched (``OUTSIDE_SCOPE`` decides).

``AIRLOCK["COMMANDS"] = False`` leaves ``BaseCommand`` unpatched.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.core.management.base import BaseCommand

from airlock import _ambient, _outside
from airlock._config import ON_COMMIT
from airlock.exceptions import UsageError
from airlock.integrations.django import conf
from airlock.policies import DropAll

__all__ = ["DEFAULT_COMMANDS", "MODES", "install", "installed", "mode_for", "uninstall"]

logger = logging.getLogger("airlock")

SCOPE, DROP = "scope", "drop"
MODES: tuple[str | bool, ...] = (SCOPE, DROP, ON_COMMIT, False)
"""The modes a command can run in (``True`` is accepted for ``"scope"``)."""

DEFAULT_COMMANDS: dict[str, str | bool] = {
    "*": SCOPE,
    # Django runs these itself to build, reset or fill databases (test databases, the teardown
    # of transaction tests, fixtures): data migrations and signal handlers send nothing.
    "migrate": DROP,
    "flush": DROP,
    "loaddata": DROP,
    # Interactive: each statement is its own unit of work, as with transaction.on_commit.
    "shell": ON_COMMIT,
    "shell_plus": ON_COMMIT,
    # Long-running: servers, test runners, workers. One scope for their whole life would hold
    # every effect until they exit; requests and tasks get scopes of their own.
    "runserver": False,
    "runserver_plus": False,
    "testserver": False,
    "test": False,
    "airlock_relay": False,
    "db_worker": False,
    "qcluster": False,
    "rqworker": False,
    "run_huey": False,
    "rundramatiq": False,
    "process_tasks": False,
}
"""airlock's mode for each command it knows; ``"*"`` is every other command."""

_MAX_LISTED = 10


def command_name(command: BaseCommand) -> str:
    """The name ``manage.py`` knows a command by: its module's last component."""
    return type(command).__module__.rpartition(".")[2]


def _valid(mode: Any) -> bool:
    return isinstance(mode, (str, bool)) and mode in (*MODES, True)


def mode_for(command: BaseCommand) -> str | bool:
    """The mode ``command`` runs in (see the module's docstring for the order of lookups).

    A bad ``airlock_scope`` attribute is a ``UsageError``. A bad ``AIRLOCK["COMMANDS"]`` never
    raises here (``manage.py check`` must run to report it, ``airlock.E004``): the command gets
    ``"scope"``, whose scope then refuses to be made while the settings are invalid.
    """
    name = command_name(command)
    user = conf.user_settings()
    table = user.get("COMMANDS", {}) if isinstance(user, Mapping) else {}
    if table is False:
        return False
    if not isinstance(table, Mapping):
        table = {"*": SCOPE}
    if name in table:
        mode = table[name]
    elif getattr(command, "airlock_scope", None) is not None:
        mode = command.airlock_scope  # type: ignore[attr-defined]
        if not _valid(mode):
            where = f"{type(command).__module__}.{type(command).__name__}.airlock_scope"
            raise UsageError(
                f"{where} = {mode!r} is not a mode: use 'scope', 'drop', 'on_commit' or False"
            )
    elif name in DEFAULT_COMMANDS:
        mode = DEFAULT_COMMANDS[name]
    else:
        mode = table.get("*", DEFAULT_COMMANDS["*"])
    if mode is True or not _valid(mode):
        return SCOPE
    return mode  # type: ignore[no-any-return]


def _run(original: Callable[..., Any], command: BaseCommand, /, *args: Any, **options: Any) -> Any:
    # Positional-only: a command's options may be called anything (``shell`` has ``command``).
    mode = mode_for(command)
    if mode is False:
        return original(command, *args, **options)
    if mode == ON_COMMIT:
        with _outside.override(ON_COMMIT):
            return original(command, *args, **options)
    lazy = _ambient.lazy(DropAll(), ambient=False) if mode == DROP else _ambient.lazy()
    lazy.enter()
    try:
        result = original(command, *args, **options)
    except BaseException as error:
        lazy.finish(error)
        raise
    lazy.finish(None)
    if mode == DROP and lazy.scope is not None and lazy.scope.dropped:
        _report_dropped(command_name(command), [i for i, _ in lazy.scope.dropped])
    return result


def _report_dropped(name: str, dropped: list[Any]) -> None:
    listed = ", ".join(str(i) for i in dropped[:_MAX_LISTED])
    more = f" and {len(dropped) - _MAX_LISTED} more" if len(dropped) > _MAX_LISTED else ""
    logger.warning(
        "airlock: `%s` dropped %d intent(s) enqueued while it ran: %s%s. A command in 'drop' "
        "mode sends no side effects (airlock's default for migrate, loaddata and flush); to "
        "send them, set AIRLOCK['COMMANDS'] = {%r: 'scope'}.",
        name, len(dropped), listed, more, name,
    )  # fmt: skip


_original: Callable[..., Any] | None = None


def _execute(self: BaseCommand, /, *args: Any, **options: Any) -> Any:
    """``BaseCommand.execute``, run in the command's airlock mode."""
    assert _original is not None
    return _run(_original, self, *args, **options)


def installed() -> bool:
    """True while ``BaseCommand.execute`` is airlock's wrapper."""
    return BaseCommand.__dict__.get("execute") is _execute


def install() -> None:
    """Wrap ``BaseCommand.execute`` (once: installing again changes nothing)."""
    global _original
    if installed():
        return
    _original = BaseCommand.execute
    functools.update_wrapper(_execute, _original)
    BaseCommand.execute = _execute  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """Put ``BaseCommand.execute`` back (only if airlock's wrapper is the one in place)."""
    if installed() and _original is not None:
        BaseCommand.execute = _original  # type: ignore[method-assign]


def apply_setting() -> None:
    """Install or uninstall as ``AIRLOCK["COMMANDS"]`` says (``False``: uninstall)."""
    user = conf.user_settings()
    if isinstance(user, Mapping) and user.get("COMMANDS", {}) is False:
        uninstall()
    else:
        install()
