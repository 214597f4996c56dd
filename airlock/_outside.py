"""What ``enqueue`` does with no active scope: raise ``NoScopeError``, or send on commit.

``configure(outside_scope=...)`` (Django: ``AIRLOCK["OUTSIDE_SCOPE"]``) picks the mode for the
process; ``override(mode)`` picks it for one context (a management command, a test). In
``"on_commit"`` mode each such intent gets a scope of its own, ``with airlock.scope():
airlock.enqueue(...)``: with ``DjangoScope`` it is sent once the transaction open at enqueue
commits (at once outside one) and dropped if it rolls back, like ``transaction.on_commit``.
Only ``enqueue``'s no-scope branch comes here: code inside a scope never pays for this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from airlock import _config
from airlock._context import NO_SCOPE_MESSAGE
from airlock._intent import Intent
from airlock.exceptions import NoScopeError

__all__ = ["enqueue", "override"]

_mode: ContextVar[str | None] = ContextVar("airlock_outside_scope", default=None)


def enqueue(*call: Any) -> Intent:
    """``enqueue`` with no active scope (``call``: what ``Scope._enqueue`` takes)."""
    if (_mode.get() or _config.current()["outside_scope"]) != _config.ON_COMMIT:
        raise NoScopeError(NO_SCOPE_MESSAGE)
    from airlock._api import scope

    # Entered under the current value: local policies of an airlock.policy() block still apply.
    with scope() as own:
        return own._enqueue(*call)


@contextmanager
def override(mode: str) -> Iterator[None]:
    """Use ``mode`` instead of the configured ``outside_scope`` in this context for the block."""
    token = _mode.set(_config.check_outside_scope(mode))
    try:
        yield
    finally:
        _mode.reset(token)
