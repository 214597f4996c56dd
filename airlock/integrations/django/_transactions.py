"""Which transactions an intent waits for, and how we learn that they committed or rolled back.

A ``Ticket`` is the bookkeeping of one intent tied to open transactions. A ``CommitHook`` is an
``on_commit`` callback that carries the tickets one scope tied at one savepoint level of one
connection (consecutive intents share it). Django calls the hook when the transaction commits.
When a savepoint or the transaction rolls back, Django silently drops its callbacks; we learn of
it deterministically because each connection we use is *watched*: after its ``rollback()``,
``savepoint_rollback()`` or ``close()`` returns, every hook of ours that Django no longer holds
in ``run_on_commit`` and that has not run was dropped, i.e. rolled back. No garbage collection
is involved.

The Django internals read here, each pinned by ``tests/django/test_django_internals.py``:
``connection.run_on_commit`` (entries ``(savepoint ids, callback, robust)``),
``connection.savepoint_ids``, ``connection.atomic_blocks[0]._from_testcase``, and that
``atomic`` ends a transaction or savepoint through the connection's ``rollback()`` /
``savepoint_rollback()`` methods, and that a commit hook raising an interrupt stops the hooks
after it for good.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airlock import _transactional

if TYPE_CHECKING:
    from airlock.integrations.django.scope import DjangoScope

__all__ = ["CommitHook", "Ticket", "Watch", "watch"]

logger = logging.getLogger("airlock")

_WATCHED_METHODS = ("rollback", "savepoint_rollback", "close")


class Ticket(_transactional.Ticket):
    """The transaction bookkeeping of one buffered intent (see ``airlock._transactional``).

    ``aliases``: the database aliases it was tied to at enqueue; ``waiting``: those whose
    commit has not happened yet; ``released``: its scope flushed and the policies let it
    through; ``fate``: None while pending, else its terminal fate (``"dispatched"``,
    ``"failed"``, ``"dropped"``, ``"discarded"``, ``"rolled_back"``).
    """

    __slots__ = ()
    scope: DjangoScope
    waiting: list[str]

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.tied

    def __repr__(self) -> str:
        state = self.fate or ("released" if self.released else "buffered")
        return f"<Ticket {self.intent} {state} waiting={sorted(self.waiting)}>"


class CommitHook:
    """The ``on_commit`` callback of the tickets one scope tied to one savepoint level.

    ``scope`` registered it; a ticket's own scope may since have changed (an enclosing scope
    captured the intent). ``shared``: later intents at the same level may join it (not inside
    Django's ``TestCase``, where ``captureOnCommitCallbacks`` runs only the callbacks registered
    inside its block).
    """

    __slots__ = (
        "alias", "connection_id", "done", "savepoint_ids", "scope", "shared", "tickets", "watch"
    )

    def __init__(self, scope: DjangoScope, connection: Any) -> None:
        self.scope = scope
        self.watch: Watch | None = None
        self.alias: str = connection.alias
        self.connection_id = id(connection)
        self.savepoint_ids: list[str | None] = list(connection.savepoint_ids)
        blocks = connection.atomic_blocks
        self.shared = not (blocks and blocks[0]._from_testcase)
        self.tickets: list[Ticket] = []
        self.done = False

    def __call__(self) -> None:
        if self.done:  # captureOnCommitCallbacks may run a callback Django runs again later
            return
        self.done = True
        watch = self.watch
        self._unwatch()
        try:
            self.scope._hook_done(self, committed=True)
        except BaseException as exc:  # an interrupt from a dispatch (nothing else gets here)
            if watch is not None:
                watch.lose(exc)
            raise

    def _unwatch(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            with contextlib.suppress(ValueError):
                watch.hooks.remove(self)  # usually the first: hooks run in order

    def dropped(self) -> None:
        """Django dropped this callback: its savepoint or transaction rolled back."""
        if not self.done:
            self.done = True
            self.scope._hook_done(self, committed=False)

    def __repr__(self) -> str:
        return f"<CommitHook {self.alias} tickets={len(self.tickets)} done={self.done}>"


class Watch:
    """Our hooks on one connection that have not run yet; swept after every rollback."""

    __slots__ = ("connection", "hooks", "wrappers")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.hooks: list[CommitHook] = []
        self.wrappers: dict[str, Callable[..., Any]] = {}  # method name -> our wrapper

    def add(self, hook: CommitHook) -> None:
        """Register ``hook`` with Django's ``on_commit`` and follow it."""
        if self.hooks:
            self._skipped()
        self.connection.on_commit(hook)
        self.hooks.append(hook)
        hook.watch = self

    def _skipped(self) -> None:
        # A hook of ours that Django no longer holds, that did not run and that no rollback
        # dropped: its transaction committed, but an on_commit callback registered before it
        # raised and Django ran none after that one. Its intents fail (their data committed,
        # their effects were never sent): they must not stay pending.
        pending = {id(entry[1]) for entry in self.connection.run_on_commit}
        skipped = [hook for hook in self.hooks if id(hook) not in pending]
        if not skipped:
            return
        self.hooks = [hook for hook in self.hooks if id(hook) in pending]
        error = RuntimeError(
            "Django did not run airlock's on_commit callback: an on_commit callback registered "
            "before it raised, and Django runs none after that one. Register your callbacks "
            "with on_commit(..., robust=True)."
        )
        for hook in skipped:
            hook.watch = None
            if not hook.done:
                hook.done = True
                hook.scope._hook_lost(hook, error)

    def lose(self, error: BaseException) -> None:
        """An interrupt stopped Django's commit hooks: it never runs the ones after it, so
        their intents fail with ``error``."""
        hooks, self.hooks = self.hooks, []
        for hook in hooks:
            hook.watch = None
            if not hook.done:
                hook.done = True
                hook.scope._hook_lost(hook, error)

    def sweep(self) -> None:
        """Settle every hook Django no longer holds: the transaction or savepoint rolled back."""
        hooks = self.hooks
        if not hooks:
            return
        pending = {id(entry[1]) for entry in self.connection.run_on_commit}
        kept: list[CommitHook] = []
        gone: list[CommitHook] = []
        for hook in hooks:
            (kept if id(hook) in pending else gone).append(hook)
        self.hooks = kept
        for hook in gone:
            hook.watch = None
            try:
                hook.dropped()
            except Exception:  # a rollback must never fail because of us
                logger.exception("airlock: handling the rollback of %r failed", hook)


def watch(connection: Any) -> Watch:
    """The ``Watch`` of a connection, its rollback methods wrapped.

    Wrapped again when our wrapper is no longer the instance's method (e.g. a test's
    ``monkeypatch`` of Django's ``connection`` proxy deletes it on undo).
    """
    attrs = connection.__dict__
    found: Watch | None = attrs.get("_airlock_watch")
    if found is None:
        found = attrs["_airlock_watch"] = Watch(connection)
    wrappers = found.wrappers
    for name in _WATCHED_METHODS:
        if name not in wrappers or attrs.get(name) is not wrappers[name]:
            wrappers[name] = wrapper = _then(getattr(connection, name), found.sweep)
            setattr(connection, name, wrapper)
    return found


def _then(method: Callable[..., Any], sweep: Callable[[], None]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        finally:
            sweep()

    return call
