"""dramatiq: run every actor's body in a scope, with one line of setup.

``broker.add_middleware(ScopeMiddleware())``: each message is processed inside
``airlock.scope()``; intents the actor enqueued leave when it returns and are discarded when
it raises (a retry runs again in a fresh scope) or the message is skipped.
"""

from __future__ import annotations

from typing import Any

from airlock.integrations._extras import require

with require("dramatiq", __name__):
    import dramatiq

from airlock.integrations._task_scopes import TaskFailed, TaskScopes

__all__ = ["ScopeMiddleware"]


class ScopeMiddleware(dramatiq.Middleware):
    """dramatiq middleware: each message's actor runs inside its own airlock scope."""

    def __init__(self) -> None:
        self.scopes = TaskScopes("dramatiq")

    def before_process_message(self, broker: Any, message: Any) -> None:
        self.scopes.start()

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self.scopes.finish(exception)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self.scopes.finish(TaskFailed("message skipped"))
