"""Intent: the immutable record of one side effect that code asked for."""

from __future__ import annotations

import itertools
import operator
import os
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airlock.typing import Policy

__all__ = ["Intent", "build", "task_name"]

EMPTY_OPTIONS: Mapping[str, Any] = MappingProxyType({})


def _new_prefix() -> str:
    # A per-process random prefix plus a counter: unique across processes and hosts
    # without paying for a uuid4 per intent.
    return os.urandom(6).hex() + "-"


_prefix = _new_prefix()
# The counter is never replaced (a forked child gets a new prefix instead).
_seq = itertools.count(1)


def _reseed() -> None:
    global _prefix
    _prefix = _new_prefix()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)

def _getter(index: int, doc: str) -> Any:
    """A read-only field: the C getter namedtuple uses, where this Python has one."""
    try:
        from _collections import _tuplegetter  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - other Pythons
        return property(operator.itemgetter(index), doc=doc)
    return _tuplegetter(index, doc)


_new_tuple = tuple.__new__
_get = tuple.__getitem__


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


def _short(text: str) -> str:
    return text if len(text) <= 80 else f"{text[:70]}...<{len(text)} chars>"


def build(
    task: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any] | None,
    name: str | None,
    origin: str | None,
    options: Mapping[str, Any],
    key: str | None,
    local_policies: tuple[Policy, ...],
    id: str | None = None,
    seq: int | None = None,
) -> Intent:
    """The one place an ``Intent`` is made. Arguments must already be normalised (``args`` a
    tuple, ``options`` a read-only mapping, ``kwargs`` None or a dict of our own). Without
    ``id`` a fresh one is assigned; ``seq`` completes a stored id prefix (copies, pickles)."""
    if id is None:
        id, seq = _prefix, next(_seq)
    return _new_tuple(
        Intent, (task, args, kwargs or None, name, origin, options, key, local_policies, id, seq)
    )


def read_only(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``_dispatch_options`` as the read-only mapping an intent keeps (a copy)."""
    if options is None:
        return EMPTY_OPTIONS
    if not isinstance(options, Mapping):
        raise TypeError(
            f"_dispatch_options must be a mapping such as {{'queue': 'mail'}}, got {options!r}"
        )
    return MappingProxyType(dict(options)) if options else EMPTY_OPTIONS


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
        return build(
            task,
            tuple(args),
            dict(kwargs) if kwargs else None,
            name,
            origin,
            read_only(dispatch_options),
            key,
            tuple(local_policies),
            None if id is None else str(id),
        )

    # Fields are read by name, through the C getters namedtuple uses; the tuple layout is this
    # module's business: task, args, kwargs or None, _name, origin, dispatch_options, key,
    # local_policies, id prefix, id counter (None when the id was given whole).
    task: Any = _getter(0, "The callable or queue task object to run.")
    args: tuple[Any, ...] = _getter(1, "Positional arguments for the task.")
    given_name: str | None = _getter(3, "The ``_name`` given at enqueue, else None.")
    kwargs_or_none: dict[str, Any] | None = _getter(
        2, "The keyword arguments, or None when there are none (cheaper than ``kwargs``)."
    )
    origin: str | None = _getter(4, "Free-form description of where the intent came from.")
    dispatch_options: Mapping[str, Any] = _getter(
        5, "Options for the executor (queue, countdown, ...); an empty mapping when none."
    )
    key: str | None = _getter(6, "Idempotency key: duplicates in one scope collapse to the first.")
    local_policies: tuple[Policy, ...] = _getter(
        7, "Policies from ``airlock.policy(...)`` blocks around the enqueue, innermost first."
    )

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the task."""
        kwargs: dict[str, Any] | None = _get(self, 2)
        return kwargs if kwargs is not None else {}

    @property
    def name(self) -> str:
        """``_name`` if one was given, else the task's short name."""
        name: str | None = _get(self, 3)
        return name if name is not None else task_name(_get(self, 0))

    @property
    def id(self) -> str:
        """Unique id assigned at enqueue; executors use it (or ``key``) as the message id."""
        prefix, seq = _get(self, 8), _get(self, 9)
        return prefix if seq is None else f"{prefix}{seq:x}"

    def passes_local_policies(self) -> bool:
        """True when every local policy allows this intent (innermost first, stops at a no)."""
        return all(p.allows(self) for p in self.local_policies)

    def replace(self, **changes: Any) -> Intent:
        """A copy with some fields changed; the ``id`` stays unless ``id=`` is given."""
        fields: dict[str, Any] = {
            "id": self.id,
            "task": self.task,
            "args": self.args,
            "kwargs": _get(self, 2),
            "name": self.given_name,
            "origin": self.origin,
            "dispatch_options": self.dispatch_options,
            "key": self.key,
            "local_policies": self.local_policies,
        }
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"Intent.replace() got unknown field(s): {', '.join(sorted(unknown))}")
        fields.update(changes)
        copy = Intent(**fields)
        if "id" in changes:
            return copy
        # Keep the id's stored form (prefix + counter), so an unchanged copy compares equal.
        return _new_tuple(Intent, (*_get(copy, slice(8)), _get(self, 8), _get(self, 9)))

    def without_options(self, *names: str) -> Intent:
        """A copy without the given dispatch options (wrappers strip what they consume)."""
        options = self.dispatch_options
        if not any(n in options for n in names):
            return self
        return self.replace(dispatch_options={k: v for k, v in options.items() if k not in names})

    def __str__(self) -> str:
        """``name(args, k=v)`` for logs and error messages; an argument whose repr is longer
        than 80 characters is cut (a 20 kB payload would otherwise flood every log line)."""
        parts = [_short(repr(a)) for a in self.args]
        parts += [f"{k}={_short(repr(v))}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"

    def __repr__(self) -> str:
        extra = f" key={self.key!r}" if self.key is not None else ""
        if self.dispatch_options:
            extra += f" options={dict(self.dispatch_options)!r}"
        return f"<Intent {self} id={self.id!r}{extra}>"

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Intent) and tuple.__eq__(self, other) is True)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("Intent is not iterable; use its fields (task, args, kwargs, ...)")

    def __getitem__(self, index: Any) -> Any:
        raise TypeError("Intent is not a sequence; read its fields by name (task, args, ...)")

    def __reduce__(self) -> tuple[Callable[..., Intent], tuple[Any, ...]]:
        fields = _get(self, slice(None))
        # A mappingproxy does not pickle: send the options as a plain dict.
        return (_rebuild, ((*fields[:5], dict(fields[5]), *fields[6:]),))


def _rebuild(fields: tuple[Any, ...]) -> Intent:
    task, args, kwargs, name, origin, options, key, local, id, seq = fields
    return build(task, args, kwargs, name, origin, read_only(options), key, local, id, seq)
