"""The airlock error tree.

``AirlockError`` is the base of everything airlock raises on purpose::

    AirlockError
    ├── UsageError            the API was called the wrong way
    │   ├── NoScopeError      enqueue() with no active scope
    │   └── PolicyEnqueueError enqueue() from inside a policy callback
    ├── ScopeStateError       a scope method called in the wrong state
    ├── PolicyViolation       a policy refused an intent at enqueue time
    └── DispatchError         one or more intents could not be dispatched
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock._intent import Intent

__all__ = [
    "AirlockError",
    "DispatchError",
    "NoScopeError",
    "PolicyEnqueueError",
    "PolicyViolation",
    "ScopeStateError",
    "UsageError",
]


class AirlockError(Exception):
    """Base class of every error airlock raises on purpose."""


class UsageError(AirlockError):
    """The API was used the wrong way; the message names the fix."""


class NoScopeError(UsageError):
    """``enqueue`` was called with no active scope."""


class PolicyEnqueueError(UsageError):
    """``enqueue`` was called from inside a policy callback (policies may not enqueue)."""


class ScopeStateError(AirlockError):
    """A scope method was called in a state that does not allow it (e.g. flush twice)."""


class PolicyViolation(AirlockError):
    """Raised by a policy's ``on_enqueue`` to refuse an intent; the intent is not buffered."""


class DispatchError(AirlockError):
    """One or more intents could not be dispatched.

    ``errors`` holds ``(intent, exception)`` pairs, in the order they happened.
    """

    def __init__(
        self, message: str, errors: Sequence[tuple[Intent | None, BaseException]] = ()
    ) -> None:
        super().__init__(message)
        self.errors: list[tuple[Intent | None, BaseException]] = list(errors)
