"""``manage.py airlock_inbox_prune`` and the admin's list of applied messages."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from airlock.integrations.django.inbox import run_once
from airlock.integrations.django.inbox.models import InboxMessage
from airlock.integrations.django.inbox.prune import prune

pytestmark = pytest.mark.django_db(databases=["default", "other"])


def rows(days_ago: list[float], using: str = "default", prefix: str = "m") -> None:
    now = timezone.now()
    InboxMessage.objects.using(using).bulk_create(
        InboxMessage(message_id=f"{prefix}{n}", task="t", processed_at=now - timedelta(days=d))
        for n, d in enumerate(days_ago)
    )


def prune_command(*args: str) -> str:
    out = StringIO()
    call_command("airlock_inbox_prune", *args, stdout=out)
    return out.getvalue()


def ids(using: str = "default") -> set[str]:
    return set(InboxMessage.objects.using(using).values_list("message_id", flat=True))


def test_prunes_rows_older_than_the_retention_setting_on_every_database(settings: Any) -> None:
    settings.AIRLOCK = {"INBOX": {"RETENTION_DAYS": 7}}
    rows([1, 6.9, 7.1, 40])
    rows([8, 2], using="other", prefix="o")
    output = prune_command()
    assert ids() == {"m0", "m1"} and ids("other") == {"o1"}
    assert "'default': deleted 2 row(s) older than 7 days" in output
    assert "'other': deleted 1 row(s)" in output


def test_days_database_and_batch_size_options() -> None:
    rows([3, 5, 9, 10, 11])
    rows([9], using="other", prefix="o")
    output = prune_command("--days", "4", "--database", "default", "--batch-size", "2")
    assert ids() == {"m0"} and ids("other") == {"o0"}  # only the database named
    assert "deleted 4 row(s) older than 4 days" in output


def test_the_default_retention_keeps_thirty_days() -> None:
    rows([29, 31])
    prune_command()
    assert ids() == {"m0"}


def test_a_pruned_message_redelivered_applies_again() -> None:
    applied: list[int] = []
    run_once("late", applied.append, (1,))
    InboxMessage.objects.update(processed_at=timezone.now() - timedelta(days=31))
    assert prune("default", 30) == 1
    assert run_once("late", applied.append, (2,)).applied and applied == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days must be > 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--database", "nope"], "'nope' is not a database alias; known aliases: default, other"),
    ],
)
def test_bad_options_are_refused(args: list[str], message: str) -> None:
    rows([100])
    with pytest.raises(CommandError, match=message):
        prune_command(*args)
    assert ids() == {"m0"}


def test_a_bad_retention_setting_is_refused(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.AIRLOCK = {"INBOX": {"RETENTION_DAYS": -1}}
    with pytest.raises(ImproperlyConfigured, match=r"RETENTION_DAYS.*must be a number of days > 0"):
        prune_command()


def test_the_admin_lists_and_searches_applied_messages(settings: Any) -> None:
    if connection.vendor == "mysql" and not _mysql_time_zones():
        pytest.skip("MariaDB without time zone tables (mysql_tzinfo_to_sql): Django's admin")
    settings.ROOT_URLCONF = "tests.outbox.urls"
    rows([1, 2])
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    url = reverse("admin:airlock_inbox_inboxmessage_changelist")
    response = client.get(url, {"q": "m1"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "m1" in body and ">m0<" not in body
    assert client.get(reverse("admin:airlock_inbox_inboxmessage_add")).status_code == 403


def _mysql_time_zones() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONVERT_TZ('2026-01-01 00:00:00', 'UTC', 'Europe/Paris')")
        return cursor.fetchone()[0] is not None
