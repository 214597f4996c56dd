"""``compose``: stack wrappers into one."""

from __future__ import annotations

from collections.abc import Callable

from airlock.typing import Executor

__all__ = ["compose"]

WrapperFactory = Callable[[Executor], Executor]


def compose(*wrappers: WrapperFactory) -> WrapperFactory:
    """One wrapper made of several; the first listed is the outermost.

    ``compose(a, b)(executor)`` is ``a(b(executor))``. Give wrappers that take settings with
    ``functools.partial`` or a lambda: ``compose(partial(with_retry, attempts=5),
    with_circuit_breaker)``.
    """
    for wrapper in wrappers:
        if not callable(wrapper):
            raise TypeError(
                f"compose() takes wrapper functions executor -> executor, got {wrapper!r}"
            )

    def wrap(executor: Executor) -> Executor:
        for wrapper in reversed(wrappers):
            executor = wrapper(executor)
        return executor

    return wrap
