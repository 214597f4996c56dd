"""Intent: the immutable record of one side effect that code asked for."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock.typing import Policy

__all__ = ["Intent", "task_name"]

_EMPTY_OPTIONS: Mapping[str, Any] = MappingProxyType({})
_NO_POLICIES: tuple[Policy, ...] = ()


def _new_prefix() -> str:
    # A per-process random prefix plus a counter: unique across processes and hosts
    # without paying for a uuid4 per intent.
    return os.urandom(6).hex() + "-"


_prefix = _new_prefix()
# The counter is never replaced (a forked child gets a new prefix instead), so the hot path
# may hold on to its bound ``__next__``.
next_seq = itertools.count(1).__next__


def _reseed() -> None:
    global _prefix
    _prefix = _new_prefix()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def task_name(task: Any) -> str:
    """The short name of a task: a queue task's ``name`` after the last dot, else ``__name__``."""
    name = getattr(task, "name", None)
    if not isinstance(name, str) or not name:
        name = getattr(task, "actor_name", None)  # dramatiq
    if not isinstance(name, str) or not name:
        if isinstance(task, dict) and isinstance(task.get("task"), str):  # Celery signature
            name = task["task"]
        else:
            func = getattr(task, "func", task)  # functools.partial, django-tasks
            name = getattr(func, "__name__", None) or type(task).__name__
    return name.rsplit(".", 1)[-1]


class Intent(tuple):  # type: ignore[type-arg]
    """One side effect, recorded by ``enqueue`` and dispatched (or not) at flush.

    Immutable and slotted (a tuple underneath, which keeps ``enqueue`` cheap). Fields:
    ``task``, ``args``, ``kwargs``, ``name``, ``origin``, ``dispatch_options`` (always a
    mapping), ``key``, ``id`` (unique, assigned when built) and ``local_policies``.
    Build one directly in tests or custom executors: ``Intent(task=f, args=(1,))``.
    Use ``replace(**changes)`` for a modified copy (it keeps the ``id``). Not hashable.
    """

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __new__(
        cls,
        task: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        origin: str | None = None,
        dispatch_options: Mapping[str, Any] | None = None,
        key: str | None = None,
        id: str | None = None,
        local_policies: tuple[Policy, ...] = (),
    ) -> Intent:
        options = MappingProxyType(dict(dispatch_options)) if dispatch_options else _EMPTY_OPTIONS
        if id is None:
            prefix, seq = _prefix, next_seq()
        else:
            prefix, seq = str(id), None
        return tuple.__new__(
            cls,
            (
                task,
                tuple(args),
                dict(kwargs) if kwargs else None,  # no empty dict per intent: saves memory
                name,
                origin,
                options,
                key,
                tuple(local_policies),
                prefix,
                seq,
            ),
        )

    # Field access by position keeps the object a plain 10-tuple (small and fast to build);
    # slot 2 holds None when there are no keyword arguments.
    @property
    def task(self) -> Any:
        """The callable or queue task object to run."""
        return self[0]

    @property
    def args(self) -> tuple[Any, ...]:
        """Positional arguments for the task."""
        return self[1]  # type: ignore[no-any-return]

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the task."""
        kwargs = self[2]
        return kwargs if kwargs is not None else {}

    @property
    def name(self) -> str:
        """``_name`` if one was given, else the task's short name."""
        return self[3] if self[3] is not None else task_name(self[0])

    @property
    def origin(self) -> str | None:
        """Free-form description of where the intent came from (``_origin``)."""
        return self[4]  # type: ignore[no-any-return]

    @property
    def dispatch_options(self) -> Mapping[str, Any]:
        """Options for the executor (queue, countdown, ...); an empty mapping when none."""
        return self[5]  # type: ignore[no-any-return]

    @property
    def key(self) -> str | None:
        """Idempotency key: duplicates in one scope collapse to the first."""
        return self[6]  # type: ignore[no-any-return]

    @property
    def local_policies(self) -> tuple[Policy, ...]:
        """Policies from ``airlock.policy(...)`` blocks around the enqueue, innermost first."""
        return self[7]  # type: ignore[no-any-return]

    @property
    def id(self) -> str:
        """Unique id assigned at enqueue; executors use it (or ``key``) as the message id."""
        seq = self[9]
        return self[8] if seq is None else f"{self[8]}{seq:x}"

    def passes_local_policies(self) -> bool:
        """True when every local policy allows this intent (innermost first, stops at a no)."""
        return all(p.allows(self) for p in self[7])

    def replace(self, **changes: Any) -> Intent:
        """A copy with some fields changed; the ``id`` stays unless ``id=`` is given."""
        fields = {
            "task": self[0],
            "args": self[1],
            "kwargs": self[2],
            "name": self[3],
            "origin": self[4],
            "dispatch_options": self[5],
            "key": self[6],
            "id": self.id,
            "local_policies": self[7],
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Intent.replace() got unknown field(s): {', '.join(sorted(unknown))}")
        fields.update(changes)
        if "id" in changes:
            return Intent(**fields)
        # Keep the id's stored form (prefix + counter), so an unchanged copy compares equal.
        fields["id"] = ""
        copy = tuple.__getitem__(Intent(**fields), slice(8))
        return tuple.__new__(Intent, (*copy, self[8], self[9]))

    def without_options(self, *names: str) -> Intent:
        """A copy without the given dispatch options (wrappers strip what they consume)."""
        if not any(n in self[5] for n in names):
            return self
        return self.replace(dispatch_options={k: v for k, v in self[5].items() if k not in names})

    def __str__(self) -> str:
        parts = [repr(a) for a in self[1]]
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def __repr__(self) -> str:
        extra = f" key={self[6]!r}" if self[6] is not None else ""
        if self[5]:
            extra += f" options={dict(self[5])!r}"
        return f"<Intent {self} id={self.id!r}{extra}>"

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Intent) and tuple.__eq__(self, other) is True)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("Intent is not iterable; use its fields (task, args, kwargs, ...)")

    def __reduce__(self) -> tuple[Callable[..., Intent], tuple[Any, ...]]:
        fields = tuple.__getitem__(self, slice(None))
        # A mappingproxy does not pickle: send the options as a plain dict.
        return (_rebuild, ((*fields[:5], dict(fields[5]), *fields[6:]),))

    def __getnewargs__(self) -> tuple[Any, ...]:  # pragma: no cover - pickle uses __reduce__
        return ()


def _rebuild(fields: tuple[Any, ...]) -> Intent:
    options = MappingProxyType(fields[5]) if fields[5] else _EMPTY_OPTIONS
    return tuple.__new__(Intent, (*fields[:5], options, *fields[6:]))
