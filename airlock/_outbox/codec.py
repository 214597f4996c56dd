"""The outbox's value codec: JSON data that gives back the very types it was given.

``encode(value)`` turns an argument into JSON data and ``decode(data)`` rebuilds it, equal and
of the same type, so a task gets the same arguments from the relay as from the in-process
flush. JSON's own types stay as they are (``str``, ``int``, ``float``, ``bool``, ``None``,
``list``, ``dict`` with ``str`` keys). ``Decimal``, ``datetime`` (naive, or aware with a
fixed-offset ``datetime.timezone`` or a ``zoneinfo.ZoneInfo``), ``date``, ``time``,
``timedelta``, ``UUID``, ``bytes``, ``tuple``, ``set``, ``frozenset`` and a ``dict`` with other
keys become a tagged object ``{"$type": ..., "value": ...}`` (a ``dict`` holding a ``"$type"``
key too, so no data is ever mistaken for a tag). Anything else, subclasses included (an
``IntEnum``, an ``OrderedDict``, a lazy translation string), raises ``Unsupported`` naming
where it sits: the relay could not hand the task that type back.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from airlock.exceptions import AirlockError

__all__ = ["TAG", "Unsupported", "decode", "encode"]

TAG = "$type"

_PLAIN = (str, int, float, bool, type(None))
_KEPT = (
    *_PLAIN, list, dict, tuple, set, frozenset, datetime, date, time, timedelta, Decimal, UUID,
    bytes,
)  # fmt: skip


class Unsupported(AirlockError, TypeError):
    """A value the codec cannot give back as it was; ``path`` says where it sits."""

    def __init__(self, value: Any, reason: str = "") -> None:
        super().__init__()
        self.path: list[str] = []  # filled in as the error leaves each container
        self.value = value
        if not reason:
            reason = "is not a type the outbox keeps"
            base = next((k for k in _KEPT if isinstance(value, k)), None)
            if base is not None:
                name = base.__name__
                reason = f"is a subclass of {name}: the relay would give back a plain {name}"
        self.reason = reason

    def __str__(self) -> str:
        return f"{''.join(self.path)} ({type(self.value).__name__}) {self.reason}"


def encode(value: Any, path: str = "value") -> Any:
    """JSON data for ``value``; ``Unsupported`` if ``value`` (or anything in it) is not kept.

    ``path`` names ``value`` in the error (e.g. ``argument 1``), which adds where inside it.
    """
    return _at(value, path, None)


def _at(value: Any, step: str, key: Any) -> Any:
    # Encode one item; the path step is only formatted when something inside is refused.
    try:
        return _encode(value)
    except Unsupported as exc:
        exc.path.insert(0, step.format(key))
        raise


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is list:
        return [_at(v, "[{}]", i) for i, v in enumerate(value)]
    if kind is dict:
        if TAG not in value and all(type(k) is str for k in value):
            return {k: _at(v, "[{!r}]", k) for k, v in value.items()}
        pairs = [[_at(k, " key {!r}", k), _at(v, "[{!r}]", k)] for k, v in value.items()]
        return {TAG: "dict", "value": pairs}
    if kind in (tuple, set, frozenset):
        items = [_at(v, "[{}]", i) for i, v in enumerate(value)]
        return {TAG: kind.__name__, "value": items}
    if kind is datetime or kind is time:
        return _clock(value)
    if kind is date:
        return {TAG: "date", "value": value.isoformat()}
    if kind is timedelta:
        return {TAG: "timedelta", "value": [value.days, value.seconds, value.microseconds]}
    if kind is Decimal or kind is UUID:
        return {TAG: kind.__name__, "value": str(value)}
    if kind is bytes:
        return {TAG: "bytes", "value": base64.b64encode(value).decode("ascii")}
    raise Unsupported(value)


def _clock(value: datetime | time) -> dict[str, Any]:
    # The wall time as ISO text, and its zone key or its offset in seconds apart (Python's
    # fromisoformat() reads an offset under one second as UTC).
    tz = value.tzinfo
    out: dict[str, Any] = {
        TAG: type(value).__name__,
        "value": value.replace(tzinfo=None).isoformat(),
    }
    if tz is None:
        pass
    elif type(tz) is ZoneInfo and tz.key:
        out["zone"] = tz.key
    elif type(tz) is timezone and tz.tzname(None) == timezone(tz.utcoffset(None)).tzname(None):
        seconds = tz.utcoffset(None).total_seconds()
        out["offset"] = int(seconds) if seconds.is_integer() else seconds
    else:
        raise Unsupported(
            value,
            f"has tzinfo {tz!r}: the outbox keeps naive times, a fixed-offset "
            "datetime.timezone without a name, or a zoneinfo.ZoneInfo (e.g. convert it with "
            ".astimezone(datetime.timezone.utc))",
        )
    if value.fold:
        out["fold"] = 1
    return out


def decode(data: Any) -> Any:
    """The value ``encode`` was given; ``ValueError`` for data it cannot have written."""
    kind = type(data)
    if kind is list:
        return [decode(v) for v in data]
    if kind is dict:
        tag = data.get(TAG)
        if tag is None:
            return {k: decode(v) for k, v in data.items()}
        rebuild = _DECODERS.get(tag) if isinstance(tag, str) else None
        if rebuild is None or "value" not in data:
            raise ValueError(f"unknown tagged value {data!r}")
        try:
            return rebuild(data)
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise ValueError(f"bad {tag} value {data['value']!r}: {exc}") from None
    if kind in _PLAIN:
        return data
    raise ValueError(f"not JSON data: {data!r}")


def _items(data: dict[str, Any]) -> list[Any]:
    items = data["value"]
    if type(items) is not list:
        raise ValueError("not a list")
    return [decode(v) for v in items]


def _pairs(data: dict[str, Any]) -> dict[Any, Any]:
    return {k: v for k, v in (_pair(p) for p in data["value"])}


def _pair(pair: Any) -> tuple[Any, Any]:
    if type(pair) is not list or len(pair) != 2:
        raise ValueError("not a [key, value] pair")
    return decode(pair[0]), decode(pair[1])


def _clock_from(kind: type[datetime] | type[time]) -> Callable[[dict[str, Any]], Any]:
    def rebuild(data: dict[str, Any]) -> Any:
        value = kind.fromisoformat(data["value"])
        if value.tzinfo is not None:
            raise ValueError("the offset is kept apart from the wall time")
        if "zone" in data:
            value = value.replace(tzinfo=ZoneInfo(data["zone"]))
        elif "offset" in data:
            value = value.replace(tzinfo=timezone(timedelta(seconds=data["offset"])))
        return value.replace(fold=1) if data.get("fold") else value

    return rebuild


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dict": _pairs,
    "tuple": lambda d: tuple(_items(d)),
    "set": lambda d: set(_items(d)),
    "frozenset": lambda d: frozenset(_items(d)),
    "datetime": _clock_from(datetime),
    "time": _clock_from(time),
    "date": lambda d: date.fromisoformat(d["value"]),
    "timedelta": lambda d: timedelta(*d["value"]),
    "Decimal": lambda d: Decimal(d["value"]),
    "UUID": lambda d: UUID(d["value"]),
    "bytes": lambda d: base64.b64decode(d["value"], validate=True),
}
