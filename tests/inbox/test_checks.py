"""System checks: bad ``AIRLOCK["INBOX"]`` values, marked tasks without the app, migrations."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from django.test import override_settings

from airlock.integrations.django.inbox import apply_once
from airlock.integrations.django.inbox.checks import (
    check_inbox_migrations,
    check_inbox_settings,
)
from airlock.integrations.django.inbox.core import check_marked_tasks


@pytest.mark.parametrize(
    ("inbox", "message", "hint"),
    [
        ({"RETENTION_DAY": 7}, "unknown key 'RETENTION_DAY'", "did you mean 'RETENTION_DAYS'?"),
        ({"RETENTION_DAYS": 0}, "must be a number of days > 0", "RETENTION_DAYS"),
        ({"RETENTION_DAYS": "7"}, "must be a number of days > 0", "RETENTION_DAYS"),
        ({"RETENTION_DAYS": True}, "must be a number of days > 0", "RETENTION_DAYS"),
        ({"DATABASE": 1}, "must be an alias", "'DATABASE': 'default'"),
        ({"DATABASE": "defualt"}, "not an alias of settings.DATABASES", "did you mean 'default'"),
        ("keep", "must be a dict", "RETENTION_DAYS"),
    ],
)
def test_bad_settings_are_reported(settings: Any, inbox: Any, message: str, hint: str) -> None:
    settings.AIRLOCK = {"INBOX": inbox}
    (error,) = check_inbox_settings()
    assert error.id in ("airlock_inbox.E001", "airlock_inbox.E002")
    assert message in error.msg and hint in error.hint
    assert str(error).startswith("settings.AIRLOCK['INBOX']")


@pytest.mark.django_db(databases=["default", "other"])  # Django 6.1 checks every database
def test_manage_check_fails_on_a_bad_setting(settings: Any) -> None:
    settings.AIRLOCK = {"INBOX": {"RETENTION_DAYS": -3}}
    with pytest.raises(SystemCheckError, match=r"airlock_inbox\.E001"):
        call_command("check", "--tag", "airlock")


def test_good_settings_pass(settings: Any) -> None:
    settings.AIRLOCK = {"INBOX": {"RETENTION_DAYS": 0.5, "DATABASE": "other"}}
    assert check_inbox_settings() == []


def test_a_marked_task_without_the_app_is_an_error(settings: Any, monkeypatch: Any) -> None:
    from airlock.integrations.django.inbox import core

    monkeypatch.setattr(core, "_marked", [])  # only this test's task counts

    @apply_once(message_id=lambda: "x")
    def charge() -> None: ...

    assert check_marked_tasks() == []  # the app is installed here
    apps = [a for a in settings.INSTALLED_APPS if a != "airlock.integrations.django.inbox"]
    with override_settings(INSTALLED_APPS=apps):
        (error,) = check_marked_tasks()
    assert error.id == "airlock_inbox.E003"
    assert "marked apply-once" in error.msg and "INSTALLED_APPS" in error.hint


@pytest.mark.django_db(databases=["default", "other"])
def test_unapplied_migrations_are_reported_per_database() -> None:
    assert check_inbox_migrations(databases=["default", "other"]) == []
    # The test transaction undoes this: "other" now looks as if it never ran the migration.
    MigrationRecorder(connections["other"]).migration_qs.filter(app="airlock_inbox").delete()
    (warning,) = check_inbox_migrations(databases=["default", "other"])
    assert warning.id == "airlock_inbox.W001" and "'other'" in warning.msg
    assert "migrate airlock_inbox --database other" in warning.hint
    assert check_inbox_migrations() == []  # no database named: nothing queried


@pytest.mark.django_db(databases=["default", "other"])
def test_manage_py_migrate_is_not_told_about_the_migrations_it_is_applying(
    monkeypatch: Any,
) -> None:
    MigrationRecorder(connections["other"]).migration_qs.filter(app="airlock_inbox").delete()
    monkeypatch.setattr("sys.argv", ["manage.py", "migrate"])
    assert check_inbox_migrations(databases=["other"]) == []
    monkeypatch.setattr("sys.argv", ["manage.py", "check", "--database", "other"])
    assert [w.id for w in check_inbox_migrations(databases=["other"])] == ["airlock_inbox.W001"]
