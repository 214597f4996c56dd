"""Strict mode: report queue publishes that bypass airlock inside a unit of work.

While a database transaction is open (a Django ``atomic`` block that is not a test case's own)
or an airlock scope is active, a call such as ``task.delay()`` sends its message at once, even
if the transaction then rolls back or the unit of work fails. With ``configure(strict="warn")``
each such call site gets one ``StrictModeWarning``; with ``"raise"`` the call raises
``StrictModeError`` before anything is sent. The call site is the first frame outside the
queue library and airlock.

Not reported: airlock's own publishes (executors and the outbox relay run inside
``airlock._sending.sending()``), the queue library's own (a retry, a chord callback: each
library's patch names the frames that mark them), and calls made with no scope and no
transaction. When off, nothing is patched (``airlock.integrations._strict_patches``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal

from airlock._context import Frame, current
from airlock._sending import _sending
from airlock.exceptions import StrictModeError, StrictModeWarning

__all__ = ["MODES", "check", "check_mode", "configure", "force", "mode", "refresh"]

logger = logging.getLogger("airlock")

Mode = Literal[False, "warn", "raise"]
MODES: tuple[Mode, ...] = (False, "warn", "raise")
"""The values of ``configure(strict=...)`` (and of Django's ``AIRLOCK["STRICT"]``)."""

Own = Callable[[str, FrameType], bool]
"""``own(path, frame)``: True for a library frame that marks the library's own publish."""

_AIRLOCK = os.path.dirname(os.path.abspath(__file__)) + os.sep
_lock = threading.RLock()
_configured: Mode = False  # configure(strict=...)
_forced: Mode = False  # the pytest plugin's --airlock-strict (wins over the configuration)
_mode: Mode = False  # what is in force
_seen: set[tuple[str, int]] = set()  # call sites already warned about
_undo: dict[str, Callable[[], None]] = {}  # library -> what removes its patch
_threads = threading.local()  # .connections: this thread's Django connections


def check_mode(value: Any) -> Mode:
    """Return ``value`` if it is a strict mode; a ``ValueError`` naming them if not."""
    for known in MODES:
        if value is known or (isinstance(value, str) and value == known):
            return known
    raise ValueError(
        f"strict {value!r} is not one of False, 'warn', 'raise': 'warn' issues a "
        "StrictModeWarning once per call site that publishes to a queue directly inside a "
        "transaction or a scope, 'raise' raises StrictModeError there"
    )


def mode() -> Mode:
    """The strict mode in force (the pytest plugin's, else the configured one)."""
    return _mode


def configure(value: Any) -> None:
    """Set the configured mode (``airlock.configure(strict=...)`` calls this)."""
    global _configured
    with _lock:
        _configured = check_mode(value)
        _apply()


def force(value: Any) -> None:
    """Set a mode that wins over the configured one (the pytest plugin); ``False`` lifts it."""
    global _forced
    with _lock:
        _forced = check_mode(value)
        _apply()


def refresh() -> None:
    """Patch the libraries that could not be patched before (e.g. Django was not set up)."""
    with _lock:
        _apply()


def _apply() -> None:
    global _mode
    wanted: Mode = _forced or _configured
    if wanted != _mode:
        _seen.clear()
    _mode = wanted
    if wanted:
        from airlock.integrations import _strict_patches

        for name, patch in _strict_patches.PATCHES.items():
            if name not in _undo:
                undo = patch()
                if undo is not None:
                    _undo[name] = undo
    else:
        while _undo:
            _undo.popitem()[1]()


def check(library: str, function: str, skip: tuple[str, ...], own: Own | None = None) -> None:
    """Called by a patched library function before it publishes: report the call if it
    bypasses airlock.

    ``library`` and ``function`` name the call in the report (the library function the
    application called, when one is on the stack, replaces ``function``); ``skip``: path
    prefixes of the library's files, walked past to find the call site; ``own``: see ``Own``.
    Raises ``StrictModeError`` in ``"raise"`` mode.
    """
    if _sending.get() or not _mode:
        return
    why = _why()
    if why is None:
        return
    found = _call_site(sys._getframe(1), skip, own)
    if found is not None:
        _report(f"{library} {found[1] or function}()", why, found[0])


def _why() -> str | None:
    value = current.get()
    if value is not None and (type(value) is not Frame or value.scope is not None):
        return "an airlock scope is active"
    if _in_transaction():
        return "a database transaction is open"
    return None


def _in_transaction() -> bool:
    """True when a Django connection of this thread is in an ``atomic`` block that is not a
    test case's own (``TestCase`` wraps each test in one that production code never sees)."""
    if "django.db" not in sys.modules:
        return False
    try:
        opened = _threads.connections
    except AttributeError:
        from django.db import connections

        try:  # once per thread, as DjangoScope does: connections[alias] is slow
            opened = _threads.connections = list(connections.all())
        except Exception:  # settings not configured: no Django database in use
            return False
    for connection in opened:
        for block in connection.atomic_blocks:
            if not getattr(block, "_from_testcase", False):
                return True
    return False


def _call_site(
    frame: FrameType | None, skip: tuple[str, ...], own: Own | None
) -> tuple[FrameType, str | None] | None:
    """The first frame outside airlock and the library, and the name of the library function
    it called; None when a frame of the library's own marks the publish as the library's."""
    called: str | None = None
    while frame is not None:
        path = frame.f_code.co_filename
        if not path.startswith(_AIRLOCK):
            if not path.startswith(skip):
                return frame, called
            if own is not None and own(path, frame):
                return None
            called = frame.f_code.co_name
        frame = frame.f_back
    return None


def _report(what: str, why: str, frame: FrameType) -> None:
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    message = (
        f"{what} at {filename}:{lineno} bypasses airlock while {why}: the message leaves at "
        "once, even if the transaction rolls back or the unit of work fails. Use "
        "airlock.enqueue(task, ...) instead (airlock strict mode)."
    )
    if _mode == "raise":
        raise StrictModeError(message, what=what, filename=filename, lineno=lineno)
    with _lock:
        if (filename, lineno) in _seen:
            return
        _seen.add((filename, lineno))
    warnings.warn_explicit(
        message,
        StrictModeWarning,
        filename,
        lineno,
        module=frame.f_globals.get("__name__", "<unknown>"),
        module_globals=frame.f_globals,
    )
