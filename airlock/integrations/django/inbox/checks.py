"""System checks for the inbox (ids ``airlock_inbox.E001`` ... ``E003``, ``W001``).

E001 an unknown key or a value of the wrong type in ``AIRLOCK["INBOX"]``, E002 a ``DATABASE``
that is not an alias of ``settings.DATABASES``, E003 tasks marked apply-once without the app
installed (``core.check_marked_tasks``, registered wherever a decorator is imported), W001 (tag
``database``: ``check --database``; not under ``manage.py migrate``, which applies them) the
inbox migrations not applied on a database the inbox may use.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings as django_settings
from django.core import checks

from airlock.integrations.django._hints import closest
from airlock.integrations.django.inbox import conf

__all__ = ["check_inbox_migrations", "check_inbox_settings", "register"]


def check_inbox_settings(**_: Any) -> list[checks.CheckMessage]:
    """Report unknown keys, wrong types and an unknown ``DATABASE`` alias."""
    errors: list[checks.CheckMessage] = [
        checks.Error(p.message, hint=p.hint, obj=p.where, id="airlock_inbox.E001")
        for p in conf.problems(conf.raw())
    ]
    if errors:
        return errors
    alias = conf.settings().database
    known = list(django_settings.DATABASES)
    if alias is not None and alias not in known:
        close = closest(alias, known)
        errors.append(
            checks.Error(
                f"{alias!r} is not an alias of settings.DATABASES, so every apply-once task "
                "that names no database fails",
                hint=(f"did you mean {close!r}? " if close else "")
                + f"known aliases: {', '.join(known)}; None uses the router's choice",
                obj=conf.where("DATABASE"),
                id="airlock_inbox.E002",
            )
        )
    return errors


def check_inbox_migrations(
    databases: Iterable[str] | None = None, **_: Any
) -> list[checks.CheckMessage]:
    """W001: a database the inbox may use lacks its migrations (the table or a later change)."""
    import sys

    from django.db import DatabaseError, connections, router
    from django.db.migrations.executor import MigrationExecutor

    from airlock.integrations.django.inbox.models import InboxMessage

    if sys.argv[1:2] == ["migrate"]:  # it runs the checks just before applying them
        return []
    out: list[checks.CheckMessage] = []
    for alias in databases or ():
        if not router.allow_migrate_model(alias, InboxMessage):
            continue
        try:
            executor = MigrationExecutor(connections[alias])
            leaves = [n for n in executor.loader.graph.leaf_nodes() if n[0] == "airlock_inbox"]
            plan = executor.migration_plan(leaves)
        except DatabaseError:  # unreachable: Django's own checks report that
            continue
        if plan:
            out.append(
                checks.Warning(
                    f"{len(plan)} airlock_inbox migration(s) are not applied on database "
                    f"{alias!r}: apply-once tasks writing there fail",
                    hint=f"Run `manage.py migrate airlock_inbox --database {alias}`.",
                    obj=f"settings.DATABASES[{alias!r}]",
                    id="airlock_inbox.W001",
                )
            )
    return out


def register() -> None:
    checks.register(check_inbox_settings, "airlock")
    checks.register(check_inbox_migrations, "airlock", checks.Tags.database)
