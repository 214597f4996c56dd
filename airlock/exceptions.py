"""The airlock error tree.

``AirlockError`` is the base of everything airlock raises on purpose::

    AirlockError
    ├── UsageError            the API was called the wrong way
    │   ├── NoScopeError      enqueue() with no active scope
    │   └── PolicyEnqueueError enqueue() from inside a policy callback
    ├── ScopeStateError       a scope method called in the wrong state
    ├── PolicyViolation       a policy refused an intent at enqueue time
    ├── PolicyError           a policy or hook raised at flush (the intents it judged failed)
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
    "PolicyError",
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


class PolicyError(AirlockError):
    """A policy or scope hook raised while judging intents at flush; those intents failed.

    The message names the policy or hook; ``__cause__`` is what it raised.
    """


class DispatchError(AirlockError):
    """One or more intents could not be dispatched; each of them has the fate ``failed``.

    ``errors`` holds ``(intent, exception)`` for every failed intent, in order; ``unsent``
    lists those that were never handed to an executor (a fail-fast flush stopped before them,
    or a batch never reached the broker), and ``failed`` the failed intents alone.
    """

    def __init__(
        self,
        message: str,
        errors: Sequence[tuple[Intent | None, BaseException]] = (),
        *,
        unsent: Sequence[Intent] = (),
    ) -> None:
        super().__init__(message)
        self.errors: list[tuple[Intent | None, BaseException]] = list(errors)
        self.unsent: list[Intent] = list(unsent)

    @property
    def failed(self) -> list[Intent]:
        """Every intent this error reports as failed (sent or not)."""
        return [intent for intent, _ in self.errors if intent is not None]
