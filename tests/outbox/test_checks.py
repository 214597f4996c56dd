"""``manage.py check`` reports bad AIRLOCK["OUTBOX"] values with an id and a hint."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from airlock.integrations.django.outbox.checks import check_outbox_settings


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
