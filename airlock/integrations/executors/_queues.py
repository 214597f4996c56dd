"""Shared by the dramatiq, huey, django-q2 and Django tasks executors: checks done at enqueue."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from airlock._intent import Intent
from airlock.integrations._extras import missing

__all__ = [
    "check_arguments",
    "missing_extra",
    "options_with",
    "refuse_coroutine",
    "to_datetime",
    "to_timedelta",
]


def missing_extra(what: str, extra: str, exc: ImportError) -> ImportError:
    """The ImportError raised when an optional queue library is not installed."""
    return missing(extra, f"airlock's {what}", exc)


def refuse_coroutine(intent: Intent, function: Any, queue: str) -> None:
    """``TypeError`` at enqueue when ``function`` is an ``async def`` that ``queue``'s workers
    would call without awaiting (it would be reported sent and never run)."""
    if inspect.iscoroutinefunction(function):
        raise TypeError(
            f"{intent}: {getattr(function, '__qualname__', function)!r} is an async def "
            f"function, which {queue} workers do not await, so it would never run. Make the "
            "task a plain def (call asyncio.run inside it), or send it with an executor that "
            "runs coroutines (sync_executor, thread_pool_executor, process_pool_executor)."
        )


def check_arguments(intent: Intent, dumps: Callable[[Any], object], serializer: str) -> None:
    """Raise ``TypeError`` naming the first argument ``dumps`` rejects (checked at enqueue).

    ``serializer`` names the encoding in the message, e.g. ``"dramatiq's JSON encoder"``.
    """
    try:
        dumps((intent.args, intent.kwargs))
        return
    except Exception as exc:
        whole: Exception = exc
    named = [(f"argument {i}", a) for i, a in enumerate(intent.args)]
    named += [(f"argument {k!r}", v) for k, v in intent.kwargs.items()]
    for label, value in named:
        try:
            dumps(value)
        except Exception as exc:
            raise TypeError(
                f"{intent}: {label} ({type(value).__name__} {value!r:.60}) cannot be serialized "
                f"by {serializer}: {exc}. Pass something it can encode (e.g. a primary key "
                "instead of a model instance, a module-level function instead of a lambda)."
            ) from None
    raise TypeError(f"{intent}: the arguments cannot be serialized by {serializer}: {whole}")


def to_timedelta(value: Any, unit: float, option: str) -> timedelta:
    """A relative delay as a timedelta: a timedelta as is, a number counted in ``unit`` seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return timedelta(seconds=float(value) * unit)
    raise TypeError(f"dispatch option {option!r} must be a number or a timedelta, got {value!r}")


def to_datetime(value: Any, option: str) -> datetime:
    """An absolute time as an aware datetime (naive ones are taken as UTC)."""
    if not isinstance(value, datetime):
        raise TypeError(f"dispatch option {option!r} must be a datetime, got {value!r}")
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def options_with(intent: Intent, **changes: Any) -> Intent:
    """The intent with some dispatch options replaced (``None`` removes one)."""
    options: Mapping[str, Any] = intent.dispatch_options
    merged = {k: v for k, v in {**options, **changes}.items() if v is not None}
    return intent.replace(dispatch_options=merged)
