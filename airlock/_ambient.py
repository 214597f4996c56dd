"""The ambient scope: a scope of last resort around a whole step (a management command, a test).

It holds only what is enqueued with no scope of its own. A scope opened inside it (by
``@airlock.scoped()``, a task runner, a dry run) flushes on its own, exactly as if the ambient
scope were not there: its ``before_descendant_flushes`` hands every intent back. So wrapping a
step in it changes nothing for code that already had a scope; it only catches what would have
raised ``NoScopeError``. It is of the configured kind (``DjangoScope`` under Django).
"""

from __future__ import annotations

import functools

from airlock import _config
from airlock._context import LazyScope
from airlock._intent import Intent
from airlock._scope import Scope
from airlock.typing import Policy

__all__ = ["ambient_class", "lazy", "open_scope"]


def _release(self: Scope, exiting_scope: Scope, intents: list[Intent]) -> list[Intent]:
    return intents


@functools.lru_cache(maxsize=32)
def ambient_class(cls: type[Scope]) -> type[Scope]:
    """``cls``, made ambient: descendants flush on their own."""
    return type(
        f"Ambient{cls.__name__}",
        (cls,),
        {
            "__module__": __name__,
            "__doc__": f"An ambient {cls.__name__}: it keeps only what has no scope of its own.",
            "before_descendant_flushes": _release,
        },
    )


def open_scope(policy: Policy | None = None, *, ambient: bool = True) -> Scope:
    """A new scope of the configured kind (ambient unless told otherwise), not yet entered."""
    from airlock._api import scope

    cls = _config.current()["scope_cls"] or Scope
    return scope(policy, _cls=ambient_class(cls) if ambient else cls)


def lazy(policy: Policy | None = None, *, ambient: bool = True) -> LazyScope:
    """``open_scope`` made on first use: a step that never enqueues builds nothing (and a
    misconfigured scope class only raises once something is enqueued)."""
    return LazyScope.of(functools.partial(open_scope, policy, ambient=ambient))
