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

__all__ = ["COMPILED", "FIELDS", "PURE", "Core", "PyCore"]  # and the states below

NEW, ACTIVE, EXITED, FLUSHED, DISCARDED = "new", "active", "exited", "flushed", "discarded"
"""A scope's states: new -> active (entered) -> exited -> flushed or discarded."""


FIELDS = ("_state", "_token", "_prior", "_direct", "_buffer", "_plain")
"""``Core``'s fields: C members of the compiled one, so a subclass may not set them on its class
(``Buffer.__init_subclass__`` refuses it: the C code would not see the class value)."""


class PyCore:
    """The fields as class defaults: a new scope allocates nothing but the object."""

    _state: str = NEW
    _token: Any = None
    _prior: Value = None
    _direct: Appends | None = None  # see Buffer
    _buffer: list[Intent] | None = None
    _plain: bool = False  # see Buffer


COMPILED = False
PURE = os.environ.get("AIRLOCK_PURE_PYTHON", "").lower() not in ("", "0", "false")
"""``AIRLOCK_PURE_PYTHON`` asks for the pure-Python core (any value but empty, 0 or false)."""
if TYPE_CHECKING or PURE:
    Core = PyCore
else:
    try:
        from airlock._speedups import Core

        COMPILED = True
    except ImportError:  # not built (no C compiler at install): the same, slower
        Core = PyCore
