"""``AIRLOCK["INBOX"]``: the inbox settings, their defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airlock.integrations.django import _section
from airlock.integrations.django._section import Problem

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


def where(key: str | None = None) -> str:
    """The path of the inbox setting ``key`` as a check message names it."""
    return _section.where("INBOX", key)


def raw() -> Any:
    """``AIRLOCK["INBOX"]`` as written (``{}`` when absent), even if it is not a dict."""
    return _section.raw("INBOX")


def problems(value: Any) -> list[Problem]:
    """Each thing wrong with an ``AIRLOCK["INBOX"]`` value."""
    if not isinstance(value, Mapping):
        return [Problem(where(), f"must be a dict, got {value!r}", "e.g. {'RETENTION_DAYS': 30}")]
    out = _section.unknown_keys("INBOX", value, DEFAULTS)
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
    merged = {**DEFAULTS, **_section.valid("INBOX", problems)}
    return InboxSettings(
        retention_days=float(merged["RETENTION_DAYS"]), database=merged["DATABASE"]
    )
