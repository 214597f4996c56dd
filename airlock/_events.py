"""Fate events: a tiny in-process observer list used by testing, Django signals and the outbox.

Listeners are called synchronously as ``listener(event, intent, scope, detail)``. Emitting
costs nothing while nobody listens (the hot path checks ``listeners`` first).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock._intent import Intent
    from airlock._scope import Scope

__all__ = [
    "CAPTURED",
    "COMPLETED",
    "DISCARDED",
    "DISPATCHED",
    "DROPPED",
    "ENQUEUED",
    "FAILED",
    "ROLLED_BACK",
    "TASK_FAILED",
    "Listener",
    "emit",
    "subscribe",
]

ENQUEUED = "enqueued"  # buffered in a scope; detail: None
CAPTURED = "captured"  # moved into an enclosing scope; detail: the exiting child scope
DROPPED = "dropped"  # removed by a policy or as a duplicate key; detail: policy or "duplicate key"
DISCARDED = "discarded"  # its scope discarded (error, 4xx/5xx); detail: None
ROLLED_BACK = "rolled_back"  # its transaction or savepoint rolled back; detail: database alias
DISPATCHED = "dispatched"  # the executor returned; detail: the executor
FAILED = "failed"  # the executor raised; detail: the exception
# Completion events: not fates. An executor that runs the task later (thread/process pool, Ray)
# reports its outcome after the intent was ``dispatched``; scope is None.
COMPLETED = "completed"  # the task returned; detail: its result
TASK_FAILED = "task_failed"  # the task raised; detail: the exception

Listener = Callable[[str, "Intent", "Scope | None", Any], None]

listeners: tuple[Listener, ...] = ()
_lock = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Add a listener; returns a function that removes it again."""
    global listeners
    with _lock:
        listeners = (*listeners, listener)

    def unsubscribe() -> None:
        global listeners
        with _lock:
            listeners = tuple(fn for fn in listeners if fn is not listener)

    return unsubscribe


def emit(event: str, intent: Intent, scope: Scope | None = None, detail: Any = None) -> None:
    """Call every listener; a failing listener never breaks the caller (it is logged)."""
    for listener in listeners:
        try:
            listener(event, intent, scope, detail)
        except Exception:  # pragma: no cover - defensive
            import logging

            logging.getLogger("airlock").exception("airlock event listener %r failed", listener)
