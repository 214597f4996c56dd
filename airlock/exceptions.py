"""The airlock error tree.

``AirlockError`` is the base of everything airlock raises on purpose::

    AirlockError
    ├── UsageError                 the API was called the wrong way
    │   ├── NoScopeError           enqueue() with no active scope
    │   ├── PolicyEnqueueError     enqueue() from inside a policy callback
    │   └── UnknownOptionError     a dispatch option the executor does not know (TypeError)
    ├── ScopeStateError            a scope method called in the wrong state
    ├── PolicyViolation            a policy refused an intent at enqueue time
    ├── PolicyError                a policy or hook raised at flush (the intents it judged failed)
    ├── StrictModeError            strict mode "raise": a queue publish bypassed airlock
    ├── DispatchError              one or more intents could not be dispatched
    │   ├── BatchDispatchError     a batch failed part-way (.sent, .unsent, .in_doubt)
    │   ├── CircuitOpenError       with_circuit_breaker is open: the executor was not called
    │   └── WebhookError           a webhook endpoint unreachable or not 2xx (.status, .body)
    ├── MissingExtraError          an integration's package is not installed (ImportError)
    ├── WebhookVerificationError   a received webhook failed verification (ValueError)
    ├── UnknownTask                an outbox row names a task no registry knows (LookupError)
    └── BadRow                     an outbox row that can never be sent as it is (ValueError)

``StrictModeWarning`` (a ``UserWarning``, not an error) is what strict mode ``"warn"`` issues.
``UntestedVersionWarning`` (a ``RuntimeWarning``): a batched executor's fast path is off because
a queue library's installed version is outside the verified range (the stock path is used).

An error with a builtin in brackets also subclasses that builtin, so ``except TypeError`` (or
``ImportError``, ``ValueError``, ``LookupError``) written before it joined the tree still works.
The classes are also importable from the modules that raise them (``airlock.executors``,
``airlock.integrations.executors.webhook``, ``airlock.integrations.django.outbox.relay``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airlock._intent import Intent

__all__ = [
    "AirlockError",
    "BadRow",
    "BatchDispatchError",
    "CircuitOpenError",
    "DispatchError",
    "MissingExtraError",
    "NoScopeError",
    "PolicyEnqueueError",
    "PolicyError",
    "PolicyViolation",
    "ScopeStateError",
    "StrictModeError",
    "StrictModeWarning",
    "UnknownOptionError",
    "UnknownTask",
    "UntestedVersionWarning",
    "UsageError",
    "WebhookError",
    "WebhookVerificationError",
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


class StrictModeError(AirlockError):
    """Strict mode ``"raise"``: a queue publish bypassed airlock while a transaction was open or
    a scope was active. Nothing was sent.

    ``filename`` and ``lineno`` name the call site (the first frame outside the queue library
    and airlock); ``what`` names the call (e.g. ``"celery apply_async"``).
    """

    def __init__(self, message: str, *, what: str, filename: str, lineno: int) -> None:
        super().__init__(message)
        self.what = what
        self.filename = filename
        self.lineno = lineno


class StrictModeWarning(UserWarning):
    """Strict mode ``"warn"``: a queue publish bypassed airlock (once per call site).

    Issued with the call site's file and line, so ``-W error::airlock.exceptions.StrictModeWarning``
    or a ``filterwarnings`` entry can select it.
    """


class UntestedVersionWarning(RuntimeWarning):
    """A batched executor's fast path is off: an installed queue library (or redis-py) is
    outside the versions it was verified against, so each message goes through the library's
    own publish call instead. Issued once per fast path per process."""


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


class UnknownOptionError(UsageError, TypeError):
    """A dispatch option (or executor option) the executor does not know; raised at enqueue.

    Every executor that checks its options raises this one type. It is also a ``TypeError``, as
    for an unexpected keyword argument. ``unknown`` and ``known`` hold the option names, sorted;
    ``suggestions`` maps a misspelt name to the close known one (``{"prioritty": "priority"}``).
    """

    def __init__(
        self,
        message: str,
        *,
        unknown: Iterable[str] = (),
        known: Iterable[str] = (),
        suggestions: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.unknown: list[str] = sorted(unknown)
        self.known: list[str] = sorted(known)
        self.suggestions: dict[str, str] = dict(suggestions or {})


class MissingExtraError(AirlockError, ImportError):
    """An integration needs a package that is not installed; the message names the extra."""


class BatchDispatchError(DispatchError):
    """A batch failed part-way. Nothing is retried by airlock.

    ``sent``: confirmed by the broker. ``unsent``: certainly not published (safe to send again).
    ``in_doubt``: the connection broke while the broker was answering, so they may or may not
    be queued (they keep their message ids, so a consumer can de-duplicate a re-send).
    ``errors`` holds ``(intent, exception)`` for every intent not in ``sent``.
    """

    def __init__(
        self,
        message: str,
        *,
        sent: Sequence[Intent] = (),
        unsent: Sequence[Intent] = (),
        in_doubt: Sequence[Intent] = (),
        errors: Sequence[tuple[Intent | None, BaseException]] = (),
    ) -> None:
        super().__init__(message, errors, unsent=unsent)
        self.sent: list[Intent] = list(sent)
        self.in_doubt: list[Intent] = list(in_doubt)

    @classmethod
    def build(
        cls,
        cause: BaseException,
        *,
        sent: Sequence[Intent],
        unsent: Sequence[Intent] = (),
        in_doubt: Sequence[Intent] = (),
        errors: Sequence[tuple[Intent | None, BaseException]] = (),
    ) -> BatchDispatchError:
        """An error whose message counts each list and names the cause."""
        if not errors:
            errors = [(i, cause) for i in [*in_doubt, *unsent]]
        total = len(sent) + len(unsent) + len(in_doubt)
        return cls(
            f"batch dispatch failed: {len(sent)} of {total} intents sent, {len(unsent)} not "
            f"sent{_some(unsent)}, {len(in_doubt)} in doubt{_some(in_doubt)} "
            f"({type(cause).__name__}: {cause}); see the error's .sent / .unsent / .in_doubt",
            sent=sent,
            unsent=unsent,
            in_doubt=in_doubt,
            errors=errors,
        )


def _some(intents: Sequence[Intent], shown: int = 3) -> str:
    # A few of them by name and id, so a log line alone says what to look for.
    if not intents:
        return ""
    names = ", ".join(f"{i} [{i.id}]" for i in intents[:shown])
    more = f", +{len(intents) - shown} more" if len(intents) > shown else ""
    return f" ({names}{more})"


class CircuitOpenError(DispatchError):
    """The circuit breaker is open: the executor was not called at all."""


class WebhookError(DispatchError):
    """The endpoint could not be reached or answered with a status that is not 2xx."""

    def __init__(self, message: str, intent: Intent, status: int | None, body: str) -> None:
        super().__init__(message, [(intent, RuntimeError(message))])
        self.status = status
        self.body = body


class WebhookVerificationError(AirlockError, ValueError):
    """A received webhook failed verification; the message says why (answer 400/401)."""


class UnknownTask(AirlockError, LookupError):
    """A task reference that no registry knows (unregistered, renamed, or tampered with)."""


class BadRow(AirlockError, ValueError):
    """An outbox row that can never be sent as it is (corrupt or tampered payload, unknown task)."""
