"""A section of ``settings.AIRLOCK``: a key whose value is a dict of settings of its own.

``AIRLOCK["OUTBOX"]`` and ``AIRLOCK["INBOX"]`` are read, named in check messages and checked for
their shape the same way; each one's ``conf`` module judges the values of its own keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from airlock.integrations.django._hints import closest

__all__ = ["Problem", "raw", "unknown_keys", "valid", "where"]


class Problem(NamedTuple):
    """One thing wrong with a section such as ``AIRLOCK["OUTBOX"]``: the setting's path, what
    is wrong, the fix."""

    where: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} ({self.hint})"


def where(section: str, key: str | None = None) -> str:
    """The path of ``AIRLOCK[section][key]`` (without ``key``: of the section) as a check
    message names it."""
    return f"settings.AIRLOCK[{section!r}]" + (f"[{key!r}]" if key is not None else "")


def raw(section: str) -> Any:
    """``AIRLOCK[section]`` as written (``{}`` when absent), even if it is not a dict."""
    from django.conf import settings as dj

    airlock = getattr(dj, "AIRLOCK", None) or {}
    value = airlock.get(section) if isinstance(airlock, Mapping) else None
    return {} if value is None else value


def unknown_keys(section: str, value: Mapping[Any, Any], known: Mapping[str, Any]) -> list[Problem]:
    """A problem for each key of ``value`` that is not one of ``known``, with the likely one."""
    out: list[Problem] = []
    for key in value:
        if key not in known:
            close = closest(str(key), known)
            hint = f"did you mean {close!r}?" if close else f"known keys: {', '.join(known)}"
            out.append(Problem(where(section), f"unknown key {key!r}", hint))
    return out


def valid(section: str, problems: Callable[[Any], list[Problem]]) -> Mapping[str, Any]:
    """``AIRLOCK[section]`` as written, if ``problems`` finds nothing wrong with it;
    ``ImproperlyConfigured`` naming the first problem otherwise."""
    value = raw(section)
    found = problems(value)
    if found:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(str(found[0]))
    return value  # type: ignore[no-any-return]
