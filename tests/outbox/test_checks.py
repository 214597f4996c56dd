"""``manage.py check`` reports bad AIRLOCK["OUTBOX"] values with an id and a hint."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from airlock.integrations.django.outbox.checks import check_outbox_settings

# Django 6.1's `check` runs the database checks on every alias by default, and the inbox's
# migration check (W001) reads each one.
pytestmark = pytest.mark.django_db(databases=["default", "other"])


@pytest.mark.parametrize(
    ("outbox", "message", "hint"),
    [
        ({"DURABEL": True}, "unknown key 'DURABEL'", "did you mean 'DURABLE'?"),
        ({"DURABLE": "yes"}, "must be True, False or a list", "DURABLE"),
        ({"MAX_ATTEMPTS": 0}, "must be an integer >= 1", "MAX_ATTEMPTS"),
        ({"GRACE": -1}, "number of seconds >= 0", "GRACE"),
        ({"UNDECIDED": "drop"}, 'must be "send" or "dead"', "parks them"),
        ({"TASKS": ["no.such.module.task"]}, "does not import", "dotted path"),
        ({"EXECUTOR": "no.such.executor"}, "does not import", "dotted path"),
        ({"EXECUTOR": 3}, "must be an executor or its dotted path", "celery_batch_executor"),
        ("all", "must be a dict", "DURABLE"),
    ],
)
def test_bad_settings_are_reported(settings: Any, outbox: Any, message: str, hint: str) -> None:
    settings.AIRLOCK = {"OUTBOX": outbox}
    (error,) = check_outbox_settings()
    assert error.id.startswith("airlock_outbox.E")
    assert message in error.msg and hint in error.hint
    # Django prints obj first: the setting's path, never "?".
    assert str(error).startswith("settings.AIRLOCK['OUTBOX']")


def report(settings: Any, outbox: dict[str, Any]) -> str:
    settings.AIRLOCK = {"OUTBOX": outbox}
    with pytest.raises(SystemCheckError) as info:
        call_command("check", "--tag", "airlock")
    return str(info.value)


def test_lower_case_key_names_the_upper_case_one(settings: Any) -> None:
    out = report(settings, {"executor": "tests.outbox.conftest.relay_executor"})
    assert "settings.AIRLOCK['OUTBOX']: (airlock_outbox.E001) unknown key 'executor'" in out
    assert "did you mean 'EXECUTOR'?" in out


def test_e002_names_the_setting_that_does_not_import(settings: Any) -> None:
    out = report(settings, {"TASKS": ["tests.outbox.conftest.nothing"]})
    assert "settings.AIRLOCK['OUTBOX']['TASKS']: (airlock_outbox.E002) " in out


def test_e003_executor_that_is_not_callable(settings: Any) -> None:
    out = report(settings, {"EXECUTOR": "airlock.__version__"})
    assert "settings.AIRLOCK['OUTBOX']['EXECUTOR']: (airlock_outbox.E003)" in out
    assert "is not callable, so the relay cannot send with it" in out
    assert "HINT: an executor is a callable executor(intent)" in out


def test_e003_executor_module_instead_of_the_executor(settings: Any) -> None:
    out = report(settings, {"EXECUTOR": "airlock.integrations.executors.sync"})
    assert (
        "settings.AIRLOCK['OUTBOX']['EXECUTOR']: (airlock_outbox.E003) "
        "'airlock.integrations.executors.sync' is a module, not an executor; "
        "did you mean airlock.integrations.executors.sync.sync_executor?"
    ) in out


def test_e003_the_celery_module(settings: Any) -> None:
    pytest.importorskip("celery")
    out = report(settings, {"EXECUTOR": "airlock.integrations.executors.celery"})
    assert "did you mean " in out
    assert "airlock.integrations.executors.celery.celery_executor?" in out


def test_e004_database_alias_that_does_not_exist(settings: Any) -> None:
    out = report(settings, {"DATABASE": "defualt"})
    assert "settings.AIRLOCK['OUTBOX']['DATABASE']: (airlock_outbox.E004) 'defualt' is not " in out
    assert "HINT: did you mean 'default'? known aliases: default, other" in out


def test_existing_alias_and_executor_object_pass(settings: Any) -> None:
    settings.AIRLOCK = {
        "OUTBOX": {"DATABASE": "other", "EXECUTOR": "tests.outbox.conftest.relay_executor"}
    }
    assert check_outbox_settings() == []


def test_good_settings_pass_the_check_command(settings: Any) -> None:
    settings.AIRLOCK = {
        "OUTBOX": {"DURABLE": ["deliver"], "TASKS": ["tests.outbox.conftest.deliver"]}
    }
    assert check_outbox_settings() == []
    call_command("check", "--tag", "airlock")


def test_the_check_command_fails_on_a_bad_setting(settings: Any) -> None:
    settings.AIRLOCK = {"OUTBOX": {"BATCH_SIZE": "many"}}
    with pytest.raises(SystemCheckError, match=r"airlock_outbox\.E001"):
        call_command("check", "--tag", "airlock")
