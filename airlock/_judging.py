"""The decisions at the end of a unit of work: flush or discard (``should_flush``), then what a
scope may dispatch itself. Its own policy and the intents' local policies judge first; then
each active ancestor, innermost first, says what it hands back (``before_descendant_flushes``)
and captures the rest. A policy or hook that raises fails the
intents it was judging, with a ``PolicyError`` that names it; in fail-fast mode it also stops
the judging (the caller fails what is left). An interrupt (``KeyboardInterrupt``,
``SystemExit``) raised there fails every intent not yet decided, with itself, and propagates.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airlock import _events
from airlock._context import guard
from airlock._dispatch import dispatch_error
from airlock._intent import Intent
from airlock.exceptions import DispatchError, PolicyError
from airlock.policies import AllowAll

if TYPE_CHECKING:
    from airlock._scope import Scope

__all__ = ["allowed", "capture", "fail_all", "finish", "judge", "judging_error", "survivors"]

logger = logging.getLogger("airlock")

Failed = list[tuple[Intent, BaseException]]


def judge(scope: Scope, intents: list[Intent], failed: Failed) -> list[Intent]:
    """The intents ``scope`` may dispatch itself; failures are settled and added to ``failed``."""
    ancestors = list(scope.ancestors()) if scope._parent is not None else []
    # Local policies travel with captured intents: they are checked where they dispatch.
    remaining = allowed(scope, intents, failed, local=not ancestors, own=True)
    for ancestor in ancestors:
        if not remaining or (failed and not scope._isolate):
            return remaining
        held = scope._keeps_from(ancestor, remaining)  # what the child must send itself
        offered = [i for i in remaining if id(i) not in held] if held else remaining
        try:
            with guard(ancestor):
                released = ancestor.before_descendant_flushes(scope, list(offered))
        except BaseException as exc:
            fail_all(scope, remaining, judging_error(ancestor.before_descendant_flushes, exc),
                     failed)
            if not isinstance(exc, Exception):  # an interrupt: settled, now let it go on
                raise
            return []
        kept = {id(i) for i in released}
        if held:
            kept |= held
        capture(ancestor, scope, [i for i in remaining if id(i) not in kept])
        remaining = [i for i in remaining if id(i) in kept]
    if ancestors and remaining:
        remaining = allowed(scope, remaining, failed, local=True, own=False)
    return remaining


def survivors(scope: Scope, intents: list[Intent]) -> list[Intent]:
    """What a flushing ``scope`` dispatches itself (see ``judge``). Fail-fast (a plain
    ``Scope``): a policy error fails the rest too and raises ``DispatchError`` before anything
    is sent."""
    failed: Failed = []
    remaining = judge(scope, intents, failed)
    if failed and not scope._isolate:
        cause = failed[0][1]
        for intent in remaining:
            scope.settle(intent, _events.FAILED, cause)
            failed.append((intent, cause))
        raise dispatch_error(failed, remaining) from cause
    return remaining


def capture(scope: Scope, child: Scope, intents: list[Intent]) -> None:
    """``scope`` takes into its buffer what its flushing ``child`` may not dispatch itself; an
    intent keeps the executor the child was given (the child decides how, we decide when)."""
    pins = child._pinned
    for intent in intents:
        executor = pins.get(id(intent)) if pins else None
        if executor is None:
            executor = child._executor  # None: the child deferred to us
        try:
            taken = scope._take(intent, child)
        except Exception as exc:  # an on_buffered hook refused it
            scope.settle(intent, _events.FAILED, exc)
            logger.exception("airlock: %r could not capture %r", scope, intent)
            continue
        if not taken:
            continue
        if scope._captured is None:
            scope._captured = []
        scope._captured.append(intent)
        if executor is not None:
            if scope._pinned is None:
                scope._pinned = {}
            scope._pinned[id(intent)] = executor


def finish(scope: Scope, error: BaseException | None) -> None:
    """End of the unit of work: flush or discard as ``should_flush(error)`` says. With
    ``error`` set, that error propagates unchanged (a flush failure is then only logged);
    ``should_flush`` raising fails every intent and discards the scope."""
    try:
        flush = scope.should_flush(error)
    except BaseException as exc:
        hook_error = judging_error(scope.should_flush, exc)
        held = scope.intents  # not what already has a fate (a DjangoScope's rolled-back ones)
        scope._finishing("discard")
        failed: Failed = []
        fail_all(scope, held, hook_error, failed)
        if not isinstance(exc, Exception):  # an interrupt: settled, now let it go on
            raise
        if error is None and failed and not scope._isolate:
            raise dispatch_error(failed) from exc
        logger.error("airlock: %s", hook_error)
        return
    if not flush:
        scope.discard()
    elif error is None:
        scope.flush()
    else:
        try:
            scope.flush()
        except DispatchError:
            logger.exception("airlock: flush of %r failed while handling %r", scope, error)


def allowed(
    scope: Scope, intents: list[Intent], failed: Failed, *, local: bool, own: bool
) -> list[Intent]:
    """The intents the scope's policy (``own``) and their local policies (``local``) let
    through; the others are dropped, naming the policy that refused them."""
    policy = scope._policy if own and type(scope._policy) is not AllowAll else None
    if policy is None:
        if not local:
            return intents
        for intent in intents:
            if intent.local_policies:
                break
        else:
            return intents
    keep: list[Intent] = []
    with guard(scope):
        for index, intent in enumerate(intents):
            judging: Any = None
            refusing = None
            try:
                if local:
                    for judging in intent.local_policies:
                        if not judging.allows(intent):
                            refusing = judging
                            break
                if refusing is None and policy is not None:
                    judging = policy
                    if not policy.allows(intent):
                        refusing = policy
            except BaseException as exc:
                if not isinstance(exc, Exception):  # an interrupt: settle what is left first
                    fail_all(scope, keep + intents[index:], exc, failed)
                    raise
                error = judging_error(judging, exc)
                scope.settle(intent, _events.FAILED, error)
                failed.append((intent, error))
                if not scope._isolate:
                    return keep + intents[index + 1 :]
                continue
            if refusing is None:
                keep.append(intent)
            else:
                scope.settle(intent, _events.DROPPED, refusing)
    return keep


def fail_all(scope: Scope, intents: list[Intent], error: BaseException, failed: Failed) -> None:
    """Settle each intent as failed with ``error``."""
    for intent in intents:
        scope.settle(intent, _events.FAILED, error)
        failed.append((intent, error))


def judging_error(judge: Any, exc: BaseException) -> BaseException:
    """The error a failed intent keeps when ``judge`` (a policy or hook) raised ``exc``: a
    ``PolicyError`` naming it, or an interrupt (``KeyboardInterrupt``, ``SystemExit``) itself."""
    if not isinstance(exc, Exception):
        return exc
    error = PolicyError(f"{judge!r} raised {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
