"""The functions most code uses: enqueue, scope, scoped, policy."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, TypeVar, overload

from airlock import _config, _events
from airlock import _intent as _intent_mod
from airlock._intent import _EMPTY_OPTIONS, Intent
from airlock._scope import _NO_SCOPE_MESSAGE, Scope, _current, _current_policies, _Frame
from airlock.exceptions import NoScopeError, PolicyEnqueueError
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
    neither callable nor a queue task object, ``NoScopeError`` with no active scope,
    ``PolicyEnqueueError`` from inside a policy callback, and ``PolicyViolation`` when a
    policy's ``on_enqueue`` refuses the intent (it is then not buffered). ``_key`` collapses
    duplicates in one scope to the first; ``_dispatch_options`` go to the executor.
    """
    if not callable(task) and not any(hasattr(task, m) for m in _TASK_OBJECT_METHODS):
        raise _not_a_task(task)
    current = _get_current()
    if current is None:
        raise NoScopeError(_NO_SCOPE_MESSAGE)
    if current._fast and _dispatch_options is None and _key is None and not _events.listeners:
        # The common case, inlined (see Scope._allows_fast_path): build the intent, buffer it.
        intent: Intent = _new_tuple(
            Intent,
            (
                task,
                args,
                kwargs or None,
                _name,
                _origin,
                _EMPTY_OPTIONS,
                None,
                (),
                _intent_mod._prefix,
                _next_seq(),
            ),
        )
        current._buffer.append(intent)  # type: ignore[union-attr]  # _fast: a Scope
        return intent
    return current._enqueue(task, args, kwargs, _name, _origin, _dispatch_options, _key)


_get_current = _current.get
_new_tuple = tuple.__new__
_next_seq = _intent_mod.next_seq


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
    cls = _cls or config["scope_cls"] or Scope
    if policy is None:
        policy = config["policy"]
    if config["scope_kwargs"]:
        scope_kwargs = {**config["scope_kwargs"], **scope_kwargs}
    if scope_kwargs or executor is not None:
        return cls(policy, executor=executor, **scope_kwargs)
    # Positional only: calling a class with keywords costs a dict. A scope built without an
    # executor takes the configured one itself.
    return cls(policy)


_live_config = _config.current()  # updated in place by configure() / reset_configuration()


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


class policy:
    """Context manager adding a *local* policy to intents enqueued inside it.

    Such intents carry the policy and must also pass it at flush. It creates no buffer, nests,
    and reaches into scopes opened inside it. The policy's ``on_enqueue`` sees each intent.
    """

    def __init__(self, p: Policy) -> None:
        self.policy = _config.check_policy(p)
        self._token: Token[Scope | _Frame | None] | None = None

    def __enter__(self) -> Policy:
        current = _current.get()
        if isinstance(current, _Frame) and current.guard:
            raise PolicyEnqueueError("airlock.policy() cannot be used inside a policy callback")
        owner = current.scope if isinstance(current, _Frame) else current
        frame = _Frame(owner, (self.policy, *_current_policies()), guard=False)
        self._token = _current.set(frame)
        return self.policy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Policy:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)
