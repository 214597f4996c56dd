"""The functions most code uses: enqueue, scope, scoped, policy."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from airlock import _config, _events, _outside
from airlock._context import current, policy
from airlock._core import COMPILED
from airlock._intent import EMPTY_OPTIONS, Intent, build
from airlock._scope import FRESH, Scope
from airlock.policies import AllowAll
from airlock.typing import Executor, Policy

__all__ = ["enqueue", "policy", "scope", "scoped"]

F = TypeVar("F", bound=Callable[..., Any])

# Objects that are not callable but that a queue executor knows how to send.
_TASK_OBJECT_METHODS = ("apply_async", "send_with_options", "enqueue", "schedule", "using")


def _not_a_task(task: Any) -> TypeError:
    return TypeError(
        f"airlock.enqueue() needs a callable or a queue task object (Celery task or signature, "
        f"dramatiq actor, huey task, Django task); got {type(task).__name__} {task!r}. "
        "Pass the task itself, e.g. enqueue(send_email, 7), not the result of calling it."
    )


def enqueue(
    task: Any,
    /,
    *args: Any,
    _name: str | None = None,
    _origin: str | None = None,
    _dispatch_options: Mapping[str, Any] | None = None,
    _key: str | None = None,
    **kwargs: Any,
) -> Intent:
    """Record an intent to run ``task(*args, **kwargs)`` in the current scope, and return it.

    Nothing runs now: the scope decides at its end. Raises ``TypeError`` for a task that is
    neither callable nor a queue task object, ``NoScopeError`` with no active scope (unless
    ``configure(outside_scope="on_commit")``: the intent then gets a scope of its own),
    ``PolicyEnqueueError`` from inside a policy callback, and ``PolicyViolation`` when a
    policy's ``on_enqueue`` refuses the intent (it is then not buffered). ``_key`` collapses
    duplicates in one scope to the first; ``_dispatch_options`` go to the executor.
    """
    if not callable(task) and not any(hasattr(task, m) for m in _TASK_OBJECT_METHODS):
        raise _not_a_task(task)
    current = _get_current()
    if current is None:  # NoScopeError, unless configured to send it on commit
        return _outside.enqueue(task, args, kwargs, _name, _origin, _dispatch_options, _key)
    direct = current._direct
    if direct is not None and _dispatch_options is None and _key is None and not _events.listeners:
        # The scope needs nothing but the append (see Scope._direct).
        intent = build(task, args, kwargs, _name, _origin, EMPTY_OPTIONS, None, ())
        prepared = direct.append(intent)  # a scope's first intent may come back prepared
        return intent if prepared is None else prepared
    return current._enqueue(task, args, kwargs, _name, _origin, _dispatch_options, _key)


_get_current = current.get


def scope(
    policy: Policy | None = None,
    *,
    executor: Executor | None = None,
    _cls: type[Scope] | None = None,
    **scope_kwargs: Any,
) -> Scope:
    """A new scope, for ``with`` / ``async with``; yields the ``Scope``.

    On normal exit it flushes if ``should_flush(None)``; on an exception it flushes if
    ``should_flush(error)`` else discards (default: flush on success, discard on error). The
    exception always propagates. Arguments not given come from ``airlock.configure()``.
    """
    config = _live_config
    if policy is None and executor is None and _cls is None and not scope_kwargs:
        plain = config["plain"]
        if plain is not None:  # the configured defaults, worked out by an earlier call
            cls, policy, simple = plain
            made: Scope = _new(cls)  # every other field is a class default
            if policy is not None:
                made._policy = policy
            elif simple:
                made._direct = FRESH  # the defaults: enter() needs no checks
            return made
    cls = _cls or config["scope_cls"] or Scope
    configured = policy is None
    if configured:
        policy = config["policy"]  # checked by configure()
    if config["scope_kwargs"]:
        scope_kwargs = {**config["scope_kwargs"], **scope_kwargs}
    if scope_kwargs or executor is not None:
        return cls(policy, executor=executor, **scope_kwargs)
    if configured and cls.bare_init:
        if type(policy) is AllowAll:
            policy = None  # the class default, the AllowAll the fast paths recognise
        if _cls is None:
            config["plain"] = (cls, policy, cls._simple)  # scope() needs no __init__ here
        made = _new(cls)
        if policy is not None:
            made._policy = policy
        elif cls._simple:
            made._direct = FRESH
        return made
    return cls(policy)


_new = Scope.__new__  # Core's: no __init__
_live_config = _config.current()  # updated in place by configure() / reset_configuration()
if COMPILED and not TYPE_CHECKING:  # the call with no arguments in C (see _speedups.c)
    from airlock import _speedups

    scope = functools.update_wrapper(_speedups.Maker(scope, _live_config), scope)


@overload
def scoped(policy: F, /) -> F: ...


@overload
def scoped(
    policy: Policy | None = None,
    *,
    executor: Executor | None = None,
    _cls: type[Scope] | None = None,
    **scope_kwargs: Any,
) -> Callable[[F], F]: ...


def scoped(
    policy: Any = None,
    *,
    executor: Executor | None = None,
    _cls: type[Scope] | None = None,
    **scope_kwargs: Any,
) -> Any:
    """Decorator: run each call of a function (sync or ``async def``) in a fresh scope.

    Takes the same arguments as ``scope()``; ``@airlock.scoped`` without parentheses works too.
    """
    if inspect.isfunction(policy) or inspect.ismethod(policy):
        return scoped()(policy)

    def decorate(func: F) -> F:
        def make() -> Scope:
            return scope(policy, executor=executor, _cls=_cls, **scope_kwargs)

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                async with make():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with make():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
