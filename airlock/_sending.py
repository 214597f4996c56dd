"""The marker airlock sets while it hands a message to a queue library itself.

Executors and the outbox relay publish inside ``sending()``; the Celery migration intercept
lets such calls through instead of buffering them again, and strict mode does not report them.
A task body run eagerly inside such a publish clears it again (``sending(False)``): the body's
own calls are the application's, not airlock's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["is_sending", "sending"]

_sending: ContextVar[bool] = ContextVar("airlock_sending", default=False)


@contextlib.contextmanager
def sending(value: bool = True) -> Iterator[None]:
    """Mark the calls made inside as airlock's own publishes (``value=False`` unmarks them)."""
    token = _sending.set(value)
    try:
        yield
    finally:
        _sending.reset(token)


def is_sending() -> bool:
    """True inside ``sending()``."""
    return _sending.get()
