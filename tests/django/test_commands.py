"""Management commands run in a scope (the app wraps BaseCommand.execute): real call_command
runs on the suite's database (SQLite, or PostgreSQL with AIRLOCK_TEST_DB=postgres)."""

from __future__ import annotations

import logging
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models.signals import post_save
from django.test import override_settings

import airlock
from airlock.exceptions import NoScopeError, UsageError
from airlock.integrations.django import DjangoScope, commands
from airlock.testing import capture
from tests.django.models import Note
from tests.django.tasks import record

transactional = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=["tests.django"]
)


@transactional
def test_a_command_runs_in_a_scope_and_sends_once_it_returned(ran):
    out = StringIO()
    with capture(execute=True) as seen:
        call_command("ship_notes", "a", "b", stdout=out)
    assert out.getvalue() == "ran while handling: []\n"  # committed, but the command not done
    assert ran == ["shipped a", "shipped b"]
    assert Note.objects.count() == 2
    assert [r.fate for r in seen] == ["dispatched", "dispatched"]
    assert all(isinstance(r.scope, DjangoScope) for r in seen)


@transactional
def test_a_savepoint_rolled_back_in_a_command_takes_its_intent(ran):
    with capture(execute=True) as seen:
        call_command("ship_notes", "a", "b", "--undo", "a", stdout=StringIO())
    assert ran == ["shipped b"]
    assert [(r.args[0], r.fate) for r in seen] == [
        ("shipped a", "rolled_back"),
        ("shipped b", "dispatched"),
    ]


@transactional
def test_a_command_that_raises_sends_nothing(ran):
    with capture(execute=True) as seen, pytest.raises(CommandError):
        call_command("ship_notes", "a", "--fail", stdout=StringIO())
    assert ran == []
    assert Note.objects.count() == 1  # the data committed; the command's effects are discarded
    assert [r.fate for r in seen] == ["discarded"]


@transactional
def test_a_command_called_inside_a_scope_is_part_of_it(ran):
    with airlock.scope():
        call_command("ship_notes", "a", stdout=StringIO())
        assert ran == []
    assert ran == ["shipped a"]


@transactional
def test_airlock_scope_false_leaves_a_command_unscoped(ran):
    with pytest.raises(NoScopeError, match=r"AIRLOCK\['OUTSIDE_SCOPE'\] = 'on_commit'"):
        call_command("unscoped_notes")


@transactional
def test_the_setting_wins_over_the_class_attribute(settings, ran):
    settings.AIRLOCK = {"COMMANDS": {"unscoped_notes": "scope"}}
    call_command("unscoped_notes")
    assert ran == ["unscoped"]


@transactional
def test_star_sets_every_command_not_named(settings, ran):
    settings.AIRLOCK = {"COMMANDS": {"*": False}}
    with pytest.raises(NoScopeError):
        call_command("ship_notes", "a", stdout=StringIO())
    assert commands.mode_for(load("migrate")) == "drop"  # airlock's defaults still apply


@transactional
def test_on_commit_mode_sends_each_intent_as_its_transaction_commits(settings, ran):
    settings.AIRLOCK = {"COMMANDS": {"ship_notes": "on_commit"}}
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("ship_notes", "a", "b", "--fail", stdout=out)
    assert out.getvalue() == "ran while handling: ['shipped a', 'shipped b']\n"
    assert ran == ["shipped a", "shipped b"]  # already sent: the failure undoes nothing


@transactional
def test_drop_mode_sends_nothing_and_logs_what_it_dropped(settings, ran, caplog):
    settings.AIRLOCK = {"COMMANDS": {"ship_notes": "drop"}}
    with capture(execute=True) as seen, caplog.at_level(logging.WARNING, logger="airlock"):
        call_command("ship_notes", "a", "b", stdout=StringIO())
    assert ran == []
    assert [r.fate for r in seen] == ["dropped", "dropped"]
    assert Note.objects.count() == 2
    assert (
        "airlock: `ship_notes` dropped 2 intent(s) enqueued while it ran: record('shipped a'), "
        "record('shipped b'). A command in 'drop' mode sends no side effects (airlock's default "
        "for migrate, loaddata and flush); to send them, set "
        "AIRLOCK['COMMANDS'] = {'ship_notes': 'scope'}."
    ) in caplog.messages


@transactional
def test_scopes_opened_inside_a_command_still_decide_for_themselves(ran):
    # import_notes --dry-run opens capture() and a DropAll scope inside the command's scope:
    # its intents are dropped when that inner scope ends, not captured by the command's.
    out = StringIO()
    call_command("import_notes", "a", "--dry-run", stdout=out)
    assert out.getvalue() == "would run: record('imported a')\n"
    assert ran == []


@pytest.mark.django_db(transaction=True)
def test_a_third_party_command_sends_what_its_signal_handlers_enqueue(ran):
    # Django's own createsuperuser knows nothing of airlock; a post_save receiver enqueues.
    def welcome(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        if created:
            airlock.enqueue(record, f"welcome {instance.username}")

    post_save.connect(welcome, sender=get_user_model())
    try:
        call_command(
            "createsuperuser", "--noinput", "--username=ann", "--email=ann@example.com",
            stdout=StringIO(),
        )  # fmt: skip
    finally:
        post_save.disconnect(welcome, sender=get_user_model())
    assert ran == ["welcome ann"]


def load(name: str) -> BaseCommand:
    from django.core.management import get_commands, load_command_class

    return load_command_class(get_commands()[name], name)  # type: ignore[no-any-return]


def test_airlocks_modes_for_django_commands():
    modes = {n: commands.mode_for(load(n)) for n in ("migrate", "flush", "loaddata", "shell")}
    assert modes == {"migrate": "drop", "flush": "drop", "loaddata": "drop", "shell": "on_commit"}
    assert commands.mode_for(load("test")) is False
    assert commands.mode_for(load("runserver")) is False  # staticfiles' subclass too
    assert commands.mode_for(load("check")) == "scope"


def test_a_bad_airlock_scope_attribute_is_a_usage_error():
    class Command(BaseCommand):
        airlock_scope = "yes"

        def handle(self, *args: Any, **options: Any) -> None:
            raise AssertionError("not reached")

    with pytest.raises(UsageError, match=r"Command\.airlock_scope = 'yes' is not a mode"):
        call_command(Command())


def test_installing_twice_changes_nothing_and_commands_false_uninstalls():
    assert commands.installed()
    wrapped = BaseCommand.execute
    commands.install()
    assert BaseCommand.execute is wrapped
    with override_settings(AIRLOCK={"COMMANDS": False}):
        assert not commands.installed()
        assert BaseCommand.execute is commands._original
    assert commands.installed() and BaseCommand.execute is wrapped
