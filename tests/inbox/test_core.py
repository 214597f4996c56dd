"""run_once and apply_once on the test database (SQLite, or PostgreSQL with AIRLOCK_TEST_DB)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.test import override_settings

from airlock.exceptions import UsageError
from airlock.integrations.django.inbox import apply_once, run_once
from airlock.integrations.django.inbox.models import InboxMessage
from tests.django.models import Note

pytestmark = [
    pytest.mark.django_db(databases=["default", "other"]),
    pytest.mark.usefixtures("claim"),  # every test with each way of inserting the row
]


def write(text: str, using: str = "default") -> int:
    return Note.objects.using(using).create(text=text).pk


def test_a_second_delivery_does_nothing_and_is_reported(duplicates: Any, caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="airlock.inbox")
    first = run_once("msg-1", write, ("paid",), task="shop.charge")
    second = run_once("msg-1", write, ("paid",), task="shop.charge")
    assert first.applied and isinstance(first.result, int) and first.alias == "default"
    assert second == (False, None, "default")
    assert Note.objects.filter(text="paid").count() == 1
    row = InboxMessage.objects.get()
    assert (row.message_id, row.task) == ("msg-1", "shop.charge")
    assert duplicates == [{"task": "shop.charge", "message_id": "msg-1", "alias": "default"}]
    assert "shop.charge skipped message msg-1, already applied" in caplog.text


def test_different_ids_each_apply() -> None:
    for n in range(3):
        assert run_once(f"msg-{n}", write, ("x",)).applied
    assert Note.objects.count() == 3 and InboxMessage.objects.count() == 3


def test_a_failed_attempt_records_nothing_so_the_retry_applies_once(duplicates: Any) -> None:
    attempts: list[int] = []

    def flaky(text: str) -> int:
        attempts.append(1)
        pk = write(text)
        if len(attempts) == 1:
            raise ConnectionError("the payment provider timed out")
        return pk

    with pytest.raises(ConnectionError):
        run_once("msg-retry", flaky, ("charged",))
    assert not InboxMessage.objects.exists() and not Note.objects.exists()  # both rolled back
    assert run_once("msg-retry", flaky, ("charged",)).applied
    assert not run_once("msg-retry", flaky, ("charged",)).applied
    assert len(attempts) == 2 and Note.objects.count() == 1 and len(duplicates) == 1


def test_an_id_is_one_effect_whatever_the_task(duplicates: Any) -> None:
    """Documented: the inbox is keyed by the id alone, so a key shared by two tasks skips the
    second (docs/outbox.md, "An id is one effect, whatever the task")."""
    assert run_once("13", write, ("receipt",), task="shop.receipt").applied
    assert not run_once("13", write, ("invoice",), task="shop.invoice").applied
    assert duplicates == [{"task": "shop.invoice", "message_id": "13", "alias": "default"}]
    assert list(Note.objects.values_list("text", flat=True)) == ["receipt"]


def test_the_row_lives_on_the_alias_the_task_names() -> None:
    run_once("msg-other", write, ("elsewhere", "other"), using="other")
    assert InboxMessage.objects.using("other").filter(message_id="msg-other").exists()
    assert not InboxMessage.objects.using("default").exists()
    # the same id on another database is another inbox: each database applies it once
    assert run_once("msg-other", write, ("here",), using="default").applied
    assert not run_once("msg-other", write, ("elsewhere", "other"), using="other").applied
    assert Note.objects.using("other").count() == 1


def test_using_can_be_a_function_of_the_arguments() -> None:
    def shard(text: str, using: str) -> str:
        return using

    task = apply_once(message_id=lambda text, using: f"note:{text}", using=shard)(write)
    task("a", "other")
    task("a", "other")
    task("b", "default")
    assert list(Note.objects.using("other").values_list("text", flat=True)) == ["a"]
    assert list(InboxMessage.objects.using("other").values_list("message_id", flat=True)) == [
        "note:a"
    ]
    assert InboxMessage.objects.using("default").get().message_id == "note:b"


def test_the_database_setting_is_the_default_alias(settings: Any) -> None:
    settings.AIRLOCK = {"INBOX": {"DATABASE": "other"}}
    assert run_once("msg-set", write, ("x", "other")).alias == "other"
    assert InboxMessage.objects.using("other").exists()


def test_an_unknown_alias_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match=r"'nope' .* not an alias .*default, other"):
        run_once("msg", write, ("x",), using="nope")
    assert not Note.objects.exists()


@pytest.mark.parametrize("bad", ["", None, 42])
def test_a_missing_message_id_is_refused(bad: Any) -> None:
    with pytest.raises(UsageError, match="message id must be a non-empty string"):
        run_once(bad, write, ("x",), task="shop.charge")
    assert not Note.objects.exists()


def test_an_id_longer_than_the_column_is_stored_as_its_hash() -> None:
    long_id = "k" * 300
    assert run_once(long_id, write, ("x",)).applied
    assert not run_once(long_id, write, ("x",)).applied
    assert run_once("k" * 299 + "j", write, ("y",)).applied  # another long id applies
    stored = set(InboxMessage.objects.values_list("message_id", flat=True))
    assert all(s.startswith("sha256:") and len(s) <= 255 for s in stored) and len(stored) == 2


def test_an_id_with_a_nul_character_is_stored_as_its_hash() -> None:
    """PostgreSQL text cannot hold NUL: such an id would fail every delivery with a DataError."""
    assert run_once("order\x009", write, ("x",)).applied
    assert not run_once("order\x009", write, ("x",)).applied
    assert run_once("order\x008", write, ("y",)).applied
    stored = list(InboxMessage.objects.values_list("message_id", flat=True))
    assert len(stored) == 2 and all(s.startswith("sha256:") for s in stored)


async def _async_body(text: str) -> None:
    write(text)


def test_an_async_body_is_refused_and_records_nothing() -> None:
    """A coroutine would run (if ever) after the row committed: a delivery marked applied whose
    effect never happened. Refused when marked, and at run time before anything commits."""
    from airlock.integrations.django.inbox import dramatiq_apply_once

    with pytest.raises(UsageError, match=r"_async_body is marked apply-once but is a coroutine"):
        dramatiq_apply_once(_async_body)
    with pytest.raises(UsageError, match=r"coroutine function .* make the task a plain def"):
        run_once("msg-async", _async_body, ("x",), task="shop.warm")

    def returns_a_coroutine(text: str) -> Any:  # async in disguise: caught once it returns one
        return _async_body(text)

    with pytest.raises(UsageError, match=r"shop\.warm is marked apply-once but is a coroutine"):
        run_once("msg-async", returns_a_coroutine, ("x",), task="shop.warm")
    assert not InboxMessage.objects.exists() and not Note.objects.exists()


def test_without_the_app_installed_a_marked_task_says_how_to_fix_it() -> None:
    apps = [a for a in _installed() if a != "airlock.integrations.django.inbox"]
    with override_settings(INSTALLED_APPS=apps):
        with pytest.raises(ImproperlyConfigured, match="not in INSTALLED_APPS: add it"):
            run_once("msg", write, ("x",))
    assert not Note.objects.exists()


def test_a_missing_table_names_the_migration_to_run() -> None:
    # Renamed back at the end: MariaDB commits DDL at once, so the test's transaction can't.
    with connections["default"].cursor() as cursor:
        cursor.execute("ALTER TABLE airlock_inbox_message RENAME TO airlock_inbox_gone")
    try:
        with pytest.raises(ImproperlyConfigured, match="migrate airlock_inbox --database default"):
            run_once("msg", write, ("x",))
    finally:
        with connections["default"].cursor() as cursor:
            cursor.execute("ALTER TABLE airlock_inbox_gone RENAME TO airlock_inbox_message")


def _installed() -> list[str]:
    from django.conf import settings

    return list(settings.INSTALLED_APPS)


@pytest.mark.django_db(transaction=True)
def test_follow_ups_the_body_enqueues_go_only_when_its_delivery_commits() -> None:
    """A task's own scope (DjangoScope) holds what the body enqueues until the inbox's
    transaction commits: a failed attempt and a duplicate send nothing."""
    import airlock
    from tests.recording import Plain

    executor = Plain()

    def charge(order: int, fail: bool) -> None:
        write(f"charged {order}")
        airlock.enqueue(print, f"receipt {order}")
        if fail:
            raise ConnectionError("the payment provider timed out")

    for fail in (True, False, False):  # fails, applies, duplicate
        with airlock.scope(executor=executor):
            with contextlib.suppress(ConnectionError):
                run_once("order-9", charge, (9, fail))
    assert executor.sent == ["print('receipt 9')"]
    assert list(Note.objects.values_list("text", flat=True)) == ["charged 9"]
