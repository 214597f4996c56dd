"""``AIRLOCK["OUTBOX"]``: the outbox settings, their defaults and their validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airlock._outbox.settings import OutboxSettings
from airlock.integrations.django import _section
from airlock.integrations.django._section import Problem

__all__ = [
    "DEFAULTS",
    "EXECUTOR_EXAMPLE",
    "OutboxSettings",
    "Problem",
    "problems",
    "settings",
    "where",
]

EXECUTOR_EXAMPLE = "airlock.integrations.executors.celery.celery_batch_executor"

DEFAULTS: dict[str, Any] = {
    # False (only intents with _dispatch_options={"durable": True}), True (every intent), or a
    # list of task names (short names like "send_receipt" or full queue names).
    "DURABLE": False,
    # Dotted paths of tasks to register at startup (settings are code; the table never is).
    "TASKS": [],
    # Executor the relay sends with (dotted path or object); None: AIRLOCK["EXECUTOR"].
    "EXECUTOR": None,
    # Dotted path of the Celery app whose app.tasks names Celery tasks; None: the current app.
    "CELERY_APP": None,
    # Database alias holding the table; None: the router's choice (usually "default").
    "DATABASE": None,
    # Seconds a committed row waits for its own process to send it before the relay steps in.
    "GRACE": 60.0,
    # Rows whose process never reported back within GRACE: "send" them or park them as "dead".
    "UNDECIDED": "send",
    "MAX_ATTEMPTS": 10,
    "BACKOFF": 2.0,  # seconds before the first retry; doubles per attempt, with jitter
    "MAX_BACKOFF": 600.0,
    "BATCH_SIZE": 100,
    "INTERVAL": 1.0,  # seconds the relay sleeps when it finds nothing to send
}

_UNDECIDED = ("send", "dead")


def _raw_or_invalid() -> Any:
    """``AIRLOCK["OUTBOX"]`` as written (``{}`` when absent), even if it is not a dict."""
    return _section.raw("OUTBOX")


def where(key: str | None = None) -> str:
    """The path of the outbox setting ``key`` as a check message names it."""
    return _section.where("OUTBOX", key)


def problems(raw: Any) -> list[Problem]:
    """Each thing wrong with an ``AIRLOCK["OUTBOX"]`` value, judged without importing anything."""
    if not isinstance(raw, Mapping):
        return [Problem(where(), f"must be a dict, got {raw!r}", "e.g. {'DURABLE': True}")]
    out = _section.unknown_keys("OUTBOX", raw, DEFAULTS)
    value = {**DEFAULTS, **raw}
    durable = value["DURABLE"]
    if not isinstance(durable, bool) and not (
        isinstance(durable, (list, tuple, set, frozenset))
        and all(isinstance(n, str) for n in durable)
    ):
        out.append(
            Problem(
                where("DURABLE"),
                f"must be True, False or a list of task names, got {durable!r}",
                "e.g. 'DURABLE': ['send_receipt']",
            )
        )
    tasks = value["TASKS"]
    if not (isinstance(tasks, (list, tuple)) and all(isinstance(t, str) for t in tasks)):
        out.append(
            Problem(
                where("TASKS"),
                f"must be a list of dotted paths, got {tasks!r}",
                "e.g. 'TASKS': ['shop.tasks.send_receipt']",
            )
        )
    executor = value["EXECUTOR"]
    if executor is not None and not isinstance(executor, str) and not callable(executor):
        out.append(
            Problem(
                where("EXECUTOR"),
                f"must be an executor or its dotted path, got {executor!r}",
                f"e.g. 'EXECUTOR': {EXECUTOR_EXAMPLE!r}",
            )
        )
    app = value["CELERY_APP"]
    if app is not None and not isinstance(app, str):
        out.append(
            Problem(
                where("CELERY_APP"),
                f"must be a dotted path, got {app!r}",
                "e.g. 'CELERY_APP': 'proj.celery.app'",
            )
        )
    if value["DATABASE"] is not None and not isinstance(value["DATABASE"], str):
        out.append(
            Problem(
                where("DATABASE"),
                f"must be an alias, got {value['DATABASE']!r}",
                "e.g. 'DATABASE': 'default'",
            )
        )
    if value["UNDECIDED"] not in _UNDECIDED:
        out.append(
            Problem(
                where("UNDECIDED"),
                f'must be "send" or "dead", got {value["UNDECIDED"]!r}',
                '"send" relays them, "dead" parks them for review',
            )
        )
    for key in ("GRACE", "BACKOFF", "MAX_BACKOFF", "INTERVAL"):
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            out.append(
                Problem(
                    where(key),
                    f"must be a number of seconds >= 0, got {v!r}",
                    f"e.g. '{key}': {DEFAULTS[key]}",
                )
            )
    for key in ("MAX_ATTEMPTS", "BATCH_SIZE"):
        v = value[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            out.append(
                Problem(
                    where(key),
                    f"must be an integer >= 1, got {v!r}",
                    f"e.g. '{key}': {DEFAULTS[key]}",
                )
            )
    return out


def settings() -> OutboxSettings:
    """The current outbox settings, defaults filled in; ``ImproperlyConfigured`` if invalid."""
    v = {**DEFAULTS, **_section.valid("OUTBOX", problems)}
    durable = v["DURABLE"] if isinstance(v["DURABLE"], bool) else frozenset(v["DURABLE"])
    return OutboxSettings(
        durable=durable,
        tasks=tuple(v["TASKS"]),
        executor=v["EXECUTOR"],
        celery_app=v["CELERY_APP"],
        database=v["DATABASE"],
        grace=float(v["GRACE"]),
        undecided=v["UNDECIDED"],
        max_attempts=v["MAX_ATTEMPTS"],
        backoff=float(v["BACKOFF"]),
        max_backoff=float(v["MAX_BACKOFF"]),
        batch_size=v["BATCH_SIZE"],
        interval=float(v["INTERVAL"]),
    )
