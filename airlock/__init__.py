"""airlock: transactional side effects.

Code anywhere calls ``airlock.enqueue(task, ...)``; a scope buffers the intents, policies decide
which survive, and a flush hands them to an executor once the unit of work has succeeded.
"""

from airlock._api import enqueue, policy, scope, scoped
from airlock._config import (
    configure,
    get_configuration,
    register_executor,
    reset_configuration,
)
from airlock._context import get_current_scope
from airlock._intent import Intent
from airlock._scope import Scope
from airlock.exceptions import (
    AirlockError,
    DispatchError,
    NoScopeError,
    PolicyEnqueueError,
    PolicyViolation,
    ScopeStateError,
    UsageError,
)
from airlock.policies import AllowAll, AssertNoEffects, BlockTasks, DropAll, LogOnFlush
from airlock.typing import Executor, Policy

__version__ = "0.1.0.dev0"

__all__ = [
    "AirlockError",
    "AllowAll",
    "AssertNoEffects",
    "BlockTasks",
    "DispatchError",
    "DropAll",
    "Executor",
    "Intent",
    "LogOnFlush",
    "NoScopeError",
    "Policy",
    "PolicyEnqueueError",
    "PolicyViolation",
    "Scope",
    "ScopeStateError",
    "UsageError",
    "configure",
    "enqueue",
    "get_configuration",
    "get_current_scope",
    "policy",
    "register_executor",
    "reset_configuration",
    "scope",
    "scoped",
]
