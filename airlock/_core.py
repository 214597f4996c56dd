"""The fields a scope reads on every enter and exit, and which ``with`` runs them.

``Core`` is the base of every ``Scope``. Built from ``_speedups.c`` (``pip install`` compiles
it when a C compiler is there), it holds those fields as C members and runs ``with``'s enter
and exit in C on their common paths; everything else calls the ``Scope`` methods of the same
names. Without it (no compiler, or ``AIRLOCK_PURE_PYTHON=1`` in the environment), ``PyCore``
below holds them as class defaults and ``Scope`` runs its own Python ``__enter__`` /
``__exit__``. Behaviour is the same; the test suite runs both.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock._buffer import Appends
    from airlock._context import Value
    from airlock._intent import Intent

__all__ = ["ACTIVE", "COMPILED", "DISCARDED", "EXITED", "FLUSHED", "NEW", "Core", "PyCore"]

NEW, ACTIVE, EXITED, FLUSHED, DISCARDED = "new", "active", "exited", "flushed", "discarded"
"""A scope's states: new -> active (entered) -> exited -> flushed or discarded."""


class PyCore:
    """The fields as class defaults: a new scope allocates nothing but the object."""

    _state: str = NEW
    _token: Any = None
    _prior: Value = None
    _direct: Appends | None = None  # see Buffer
    _buffer: list[Intent] | None = None
    _plain: bool = False  # see Buffer


COMPILED = False
if TYPE_CHECKING or os.environ.get("AIRLOCK_PURE_PYTHON"):
    Core = PyCore
else:
    try:
        from airlock._speedups import Core

        COMPILED = True
    except ImportError:  # not built (no C compiler at install): the same, slower
        Core = PyCore
