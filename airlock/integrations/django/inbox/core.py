"""Apply once: the inbox row and the task's writes commit together, or neither does.

``run_once(message_id, func, args, kwargs, task=..., using=...)`` opens
``transaction.atomic(using=alias)``, inserts the inbox row for ``message_id`` and, only if that
insert created it, runs ``func`` in the same transaction:

- a second delivery after the first committed finds the row: it does nothing and is reported
  (log line on ``airlock.inbox``, the ``message_duplicate`` signal, the OpenTelemetry counter
  ``airlock.inbox.duplicates`` when instrumented);
- a delivery concurrent with one still running waits on the row's unique key until that
  transaction ends, then skips (it committed) or applies (it rolled back): never both;
- a body that raises rolls the row back with its own writes, so the retry applies.

PostgreSQL and SQLite insert with ``ON CONFLICT DO NOTHING`` (no error, no savepoint); other
databases insert in a savepoint and read the unique-key ``IntegrityError`` as "already applied".
"""

from __future__ import annotations

import hashlib
import inspect
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from django.core import checks
from django.db import DatabaseError, IntegrityError, connections, router, transaction
from django.utils import timezone

from airlock.exceptions import UsageError

__all__ = ["APP", "TABLE", "Outcome", "Using", "alias_for", "mark", "refuse_async", "run_once"]

APP = "airlock.integrations.django.inbox"
TABLE = "airlock_inbox_message"
MAX_ID = 255
#: Databases whose insert is ``INSERT ... ON CONFLICT DO NOTHING``; others use a savepoint.
UPSERT = frozenset({"postgresql", "sqlite"})

#: Where a task's inbox row lives: an alias, a callable ``using(*args, **kwargs) -> alias``
#: (for tasks whose database depends on their arguments), or None (the ``DATABASE`` setting,
#: else the router's choice for writes).
Using = str | Callable[..., str] | None

log = logging.getLogger("airlock.inbox")
_marked: list[str] = []  # tasks marked apply-once in this process (for check E003)


class Outcome(NamedTuple):
    """What ``run_once`` did: ``applied`` False for a duplicate (``result`` is then None)."""

    applied: bool
    result: Any
    alias: str


def mark(task: str) -> None:
    """Note that ``task`` is marked apply-once (a decorator calls it at import)."""
    _marked.append(task)


def run_once(
    message_id: str,
    func: Callable[..., Any],
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    *,
    task: str = "",
    using: Using = None,
) -> Outcome:
    """Run ``func(*args, **kwargs)`` unless ``message_id`` was applied; see the module doc."""
    _require_app()
    if not isinstance(message_id, str) or not message_id:
        raise UsageError(
            f"{task or func!r}: the message id must be a non-empty string, got {message_id!r}"
        )
    refuse_async(func, task)
    kwargs = kwargs or {}
    alias = alias_for(using, args, kwargs)
    with transaction.atomic(using=alias):
        if _claim(alias, _stored(message_id), task):
            result = func(*args, **kwargs)
            if inspect.isawaitable(result):  # rolls the row back: the body has not run
                if inspect.iscoroutine(result):
                    result.close()
                raise _async_error(task or repr(func))
            return Outcome(True, result, alias)
    _report(task, message_id, alias)
    return Outcome(False, None, alias)


def refuse_async(func: Callable[..., Any], task: str = "") -> None:
    """``UsageError`` for an ``async def`` body: the inbox's transaction must enclose the body,
    and a coroutine returned from it would run (if ever) after the row committed."""
    if inspect.iscoroutinefunction(func):
        raise _async_error(task or repr(func))


def _async_error(name: str) -> UsageError:
    return UsageError(
        f"{name} is marked apply-once but is a coroutine function (async def): the inbox row "
        "and the task's writes commit in one database transaction around a sync body; make "
        "the task a plain def (call async code with asgiref's async_to_sync inside it)"
    )


def alias_for(using: Using, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """The database alias of the inbox row for a call with these arguments."""
    if callable(using):
        alias = using(*args, **kwargs)
    elif using is not None:
        alias = using
    else:
        from airlock.integrations.django.inbox import conf
        from airlock.integrations.django.inbox.models import InboxMessage

        alias = conf.settings().database or router.db_for_write(InboxMessage)
    if not isinstance(alias, str) or alias not in connections.settings:
        raise UsageError(
            f"the inbox database {alias!r} (from using={using!r}) is not an alias of "
            f"settings.DATABASES; known aliases: {', '.join(connections.settings)}"
        )
    return alias


def _stored(message_id: str) -> str:
    """The id as stored: one longer than the column holds, or with a NUL character (which
    PostgreSQL text cannot hold), becomes its SHA-256."""
    if len(message_id) <= MAX_ID and "\x00" not in message_id:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _claim(alias: str, message_id: str, task: str) -> bool:
    """Insert the row; True if this call created it (the caller's transaction holds it)."""
    connection = connections[alias]
    now = timezone.now()
    try:
        if connection.vendor in UPSERT:
            q = connection.ops.quote_name
            sql = (
                f"INSERT INTO {q(TABLE)} ({q('message_id')}, {q('task')}, {q('processed_at')}) "
                f"VALUES (%s, %s, %s) ON CONFLICT ({q('message_id')}) DO NOTHING"
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    sql, [message_id, task[:MAX_ID], connection.ops.adapt_datetimefield_value(now)]
                )
                return bool(cursor.rowcount == 1)
        from airlock.integrations.django.inbox.models import InboxMessage

        try:
            with transaction.atomic(using=alias):
                InboxMessage.objects.using(alias).create(
                    message_id=message_id, task=task[:MAX_ID], processed_at=now
                )
        except IntegrityError:
            return False
        return True
    except DatabaseError as exc:
        text = str(exc)
        if TABLE in text and any(s in text for s in ("does not exist", "no such", "doesn't")):
            from django.core.exceptions import ImproperlyConfigured

            raise ImproperlyConfigured(
                f"the inbox table {TABLE!r} is missing on database {alias!r}: run "
                f"`manage.py migrate airlock_inbox --database {alias}`"
            ) from exc
        raise


def _report(task: str, message_id: str, alias: str) -> None:
    log.info(
        "airlock inbox: %s skipped message %s, already applied (database %r)",
        task or "task",
        message_id,
        alias,
    )
    from airlock.integrations.django.inbox.signals import message_duplicate

    if not message_duplicate.receivers:
        return
    sent = message_duplicate.send_robust(task, message_id=message_id, alias=alias)
    for receiver, result in sent:
        if isinstance(result, Exception):
            log.error("airlock inbox: signal receiver %r failed", receiver, exc_info=result)


def _require_app() -> None:
    from django.apps import apps

    if not apps.is_installed(APP):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"a task is marked apply-once but {APP!r} is not in INSTALLED_APPS: add it and run "
            "`manage.py migrate airlock_inbox`"
        )


@checks.register("airlock")
def check_marked_tasks(**_: Any) -> list[checks.CheckMessage]:
    """E003: tasks are marked apply-once in a project without the inbox app."""
    from django.apps import apps

    if not _marked or apps.is_installed(APP):
        return []
    names = ", ".join(sorted(set(_marked))[:3])
    return [
        checks.Error(
            f"{len(set(_marked))} task(s) are marked apply-once ({names}) but {APP!r} is not "
            "installed, so they fail at their first run",
            hint=f"Add {APP!r} to INSTALLED_APPS and run `manage.py migrate airlock_inbox`.",
            obj="settings.INSTALLED_APPS",
            id="airlock_inbox.E003",
        )
    ]
