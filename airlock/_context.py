"""The context variable that says which scope is current, and the values it can hold.

The variable holds a ``Scope``, a ``Frame`` (a local-policy block or a policy-callback guard
that forwards to a scope) or a ``LazyScope`` (a scope made on first use). Each of them has an
``_enqueue`` method, which is all ``enqueue`` needs. Threads, asyncio tasks and gevent
greenlets each see their own value.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Union

from airlock._intent import Intent
from airlock.exceptions import PolicyEnqueueError, ScopeStateError

if TYPE_CHECKING:
    from airlock._scope import Scope
    from airlock.typing import Policy

__all__ = ["Frame", "LazyScope", "current", "get_current_scope", "guard", "policy"]

NO_SCOPE_MESSAGE = (
    "airlock.enqueue() was called with no active scope. Wrap the unit of work in "
    "`with airlock.scope():`, decorate it with `@airlock.scoped()`, or add "
    "airlock.integrations.django.AirlockMiddleware for requests. To send such an intent on its "
    "own once the current transaction commits (like transaction.on_commit), set "
    "AIRLOCK['OUTSIDE_SCOPE'] = 'on_commit' in Django settings, or call "
    "airlock.configure(outside_scope='on_commit')."
)
_IN_POLICY_MESSAGE = (
    "enqueue() was called from inside a policy callback; policies decide about intents, they "
    "may not create them. Enqueue from application code instead."
)

_FINISHED = (
    "cannot enqueue: the unit of work this code ran in (a task, a command) already finished. "
    "This code still held its context, e.g. a context copied into a thread or task that "
    "outlived it; give that work a scope of its own (airlock.scope() or @airlock.scoped())."
)

Value = Union["Scope", "Frame", "LazyScope", None]
current: ContextVar[Value] = ContextVar("airlock_scope", default=None)


class Frame:
    """A context value that is not a scope: a local-policy block, or a policy-callback guard.

    ``scope`` is the scope it forwards to (or None), ``policies`` the local policies in force
    (innermost first); a ``guard`` frame refuses every enqueue.
    """

    __slots__ = ("guard", "policies", "scope")
    _direct = None  # enqueue always goes through _enqueue

    def __init__(self, scope: Scope | None, policies: tuple[Policy, ...], guard: bool) -> None:
        self.scope = scope
        self.policies = policies
        self.guard = guard

    def _enqueue(self, *call: Any) -> Intent:
        if self.guard:
            raise PolicyEnqueueError(_IN_POLICY_MESSAGE)
        if self.scope is None:
            from airlock import _outside

            return _outside.enqueue(*call)
        return self.scope._enqueue(*call, self.policies)  # type: ignore[call-arg]


class LazyScope:
    """A scope that costs nothing until it is needed: ``make()`` builds it on first use.

    Task runners (the sync executor, pools) and the request middleware put one in the context
    for the duration of a unit of work; the first ``enqueue`` (or ``get_current_scope()``, or a
    nested scope) makes the real scope, entered under whatever was current before. ``finish``
    then settles it like the end of a ``with`` block: flush on success, discard on error.
    """

    __slots__ = ("make", "scope", "token")
    _direct = None  # enqueue always goes through _enqueue

    make: Callable[[], Scope] | None
    scope: Scope | None
    token: Token[Value] | None

    # No __init__: ``LazyScope()`` is then made in C, which the sync executor does per task.
    @classmethod
    def of(cls, make: Callable[[], Scope]) -> LazyScope:
        """A lazy scope that ``make()`` builds on first use (not yet the context value)."""
        lazy = cls()
        lazy.make, lazy.scope, lazy.token = make, None, None
        return lazy

    def enter(self) -> LazyScope:
        """Become the current context value (nothing is allocated yet)."""
        self.token = current.set(self)
        return self

    @property
    def prior(self) -> Value:
        """The context value this one replaced (read from its token: no lookup per task)."""
        token = self.token
        prior = current.get() if token is None else token.old_value
        return None if prior is Token.MISSING else prior

    def get(self) -> Scope:
        """The real scope, made and entered (in place, not as the context value) if needed."""
        scope = self.scope
        if scope is None:
            if self.make is None:
                raise ScopeStateError(_FINISHED)
            scope = self.make()
            scope._enter_under(self.prior)
            self.scope = scope
        return scope

    @property
    def policies(self) -> tuple[Policy, ...]:
        """The local policies in force where this unit of work started."""
        return inherited_policies(self.prior)

    def _enqueue(self, *call: Any) -> Intent:
        return self.get()._enqueue(*call)  # a finished scope refuses it itself

    def finish(self, error: BaseException | None) -> None:
        """Stop being current, then settle the scope if one was made (as ``__exit__`` does)."""
        if self.make is not None:  # not finished yet (the token stays: ``prior`` reads it)
            self.make = None  # finished: a late enqueue (from a copied context) is refused
            if self.token is not None:
                _reset(self.token, self, self.prior)
        scope = self.scope
        if scope is not None:
            scope._exit_in_place()
            scope._finish(error)


def _reset(token: Token[Value], value: Value, prior: Value) -> None:
    try:
        current.reset(token)
    except (ValueError, RuntimeError):
        # Left from another context than the one it was entered in (another task or thread):
        # step out only where ``value`` is current; that context's own scope stays.
        if current.get() is value:
            current.set(prior)


def scope_of(value: Value) -> Scope | None:
    """The scope a context value stands for (a lazy one is made here)."""
    if value is None or type(value) is Frame:
        return value.scope if value is not None else None
    if type(value) is LazyScope:  # a finished one that made no scope stands for none
        return value.get() if value.make is not None else value.scope
    return value  # type: ignore[return-value]


def inherited_policies(value: Value) -> tuple[Policy, ...]:
    """The local policies in force under a context value."""
    if value is None:
        return ()
    if type(value) is Frame or type(value) is LazyScope:
        return value.policies
    return value._inherited  # type: ignore[union-attr]


def get_current_scope() -> Scope | None:
    """The innermost active scope in this context, or None."""
    return scope_of(current.get())


class guard:
    """Inside policy callbacks: ``enqueue`` and ``policy()`` refuse, the scope stays findable."""

    __slots__ = ("token",)

    def __init__(self, scope: Scope | None) -> None:
        self.token = current.set(Frame(scope, (), guard=True))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        current.reset(self.token)


async def exit_by_exit(
    self: Any,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """``__aexit__`` for a context manager whose exit does not await: runs ``__exit__``."""
    self.__exit__(exc_type, exc, tb)


class policy:
    """Context manager adding a *local* policy to intents enqueued inside it.

    Such intents carry the policy and must also pass it at flush. It creates no buffer, nests,
    and reaches into scopes opened inside it. The policy's ``on_enqueue`` sees each intent.
    """

    def __init__(self, p: Policy) -> None:
        from airlock._config import check_policy

        self.policy = check_policy(p)
        self._token: Token[Value] | None = None

    def __enter__(self) -> Policy:
        value = current.get()
        if type(value) is Frame and value.guard:
            raise PolicyEnqueueError("airlock.policy() cannot be used inside a policy callback")
        owner = value.scope if type(value) is Frame else scope_of(value)
        frame = Frame(owner, (self.policy, *inherited_policies(value)), guard=False)
        self._token = current.set(frame)
        return self.policy

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            current.reset(self._token)
            self._token = None

    async def __aenter__(self) -> Policy:
        return self.__enter__()

    __aexit__ = exit_by_exit
