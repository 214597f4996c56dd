"""huey: run every task's body in a scope, with one line of setup.

``scope_tasks(huey)`` registers a pre- and a post-execute hook on the huey instance: each task
runs inside ``airlock.scope()``; intents it enqueued leave when it returns and are discarded
when it raises (a retry runs again in a fresh scope).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airlock.integrations._extras import require

with require("huey", __name__):
    import huey as _huey  # noqa: F401

from airlock.integrations._task_scopes import TaskScopes

__all__ = ["scope_tasks"]

_HOOK = "airlock_scope"


def scope_tasks(huey: Any) -> Callable[[], None]:
    """Wrap every task ``huey`` executes in a scope; returns a function that removes the hooks.

    Idempotent per huey instance (the hooks are registered under one name).
    """
    scopes = TaskScopes("huey")

    def start(task: Any) -> None:
        scopes.start()

    def finish(task: Any, task_value: Any, exc: BaseException | None) -> None:
        scopes.finish(exc)

    huey.pre_execute(name=_HOOK)(start)
    huey.post_execute(name=_HOOK)(finish)

    def remove() -> None:
        huey.unregister_pre_execute(_HOOK)
        huey.unregister_post_execute(_HOOK)

    return remove
