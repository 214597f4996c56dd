"""``AIRLOCK["INBOX"]``: the inbox settings, their defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from airlock.integrations.django._hints import closest

__all__ = ["DEFAULTS", "InboxSettings", "Problem", "problems", "settings", "where"]

DEFAULTS: dict[str, Any] = {
    # Days an inbox row is kept (manage.py airlock_inbox_prune deletes older ones). A message
    # redelivered after its row was pruned applies again: keep it longer than any redelivery
    # can come (the outbox's retries, a dead row revived from the admin, a broker's redelivery).
    "RETENTION_DAYS": 30,
    # Database alias of the inbox rows when a task names none (its ``using=``); None: the
    # router's choice for writes (usually "default").
    "DATABASE": None,
}


@dataclass(frozen=True)
class InboxSettings:
    retention_days: float
    database: str | None


class Problem(NamedTuple):
    """One thing wrong with ``AIRLOCK["INBOX"]``: the setting's path, what is wrong, the fix."""

    where: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message} ({self.hint})"


def where(key: str | None = None) -> str:
    """The path of the inbox setting ``key`` as a check message names it."""
    return "settings.AIRLOCK['INBOX']" + (f"[{key!r}]" if key is not None else "")


def raw() -> Any:
    """``AIRLOCK["INBOX"]`` as written (``{}`` when absent), even if it is not a dict."""
    from django.conf import settings as dj

    airlock = getattr(dj, "AIRLOCK", None) or {}
    value = airlock.get("INBOX") if isinstance(airlock, Mapping) else None
    return {} if value is None else value


def problems(value: Any) -> list[Problem]:
    """Each thing wrong with an ``AIRLOCK["INBOX"]`` value."""
    if not isinstance(value, Mapping):
        return [Problem(where(), f"must be a dict, got {value!r}", "e.g. {'RETENTION_DAYS': 30}")]
    out: list[Problem] = []
    for key in value:
        if key not in DEFAULTS:
            close = closest(str(key), DEFAULTS)
            hint = f"did you mean {close!r}?" if close else f"known keys: {', '.join(DEFAULTS)}"
            out.append(Problem(where(), f"unknown key {key!r}", hint))
    merged = {**DEFAULTS, **value}
    days = merged["RETENTION_DAYS"]
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not days > 0:
        out.append(
            Problem(
                where("RETENTION_DAYS"),
                f"must be a number of days > 0, got {days!r}",
                "e.g. 'RETENTION_DAYS': 30 (longer than any redelivery can come)",
            )
        )
    if merged["DATABASE"] is not None and not isinstance(merged["DATABASE"], str):
        out.append(
            Problem(
                where("DATABASE"),
                f"must be an alias, got {merged['DATABASE']!r}",
                "e.g. 'DATABASE': 'default'",
            )
        )
    return out


def settings() -> InboxSettings:
    """The current inbox settings, defaults filled in; ``ImproperlyConfigured`` if invalid."""
    value = raw()
    found = problems(value)
    if found:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(str(found[0]))
    merged = {**DEFAULTS, **value}
    return InboxSettings(
        retention_days=float(merged["RETENTION_DAYS"]), database=merged["DATABASE"]
    )
