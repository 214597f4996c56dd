"""Turning strict mode on and off: configure(), reset_configuration(), AIRLOCK["STRICT"] and its
system check, and a publish inside ``transaction.on_commit``."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction

import airlock
from airlock import _strict
from airlock.exceptions import StrictModeWarning
from tests.strict.suite import call_sites, site


def test_configure_takes_false_warn_or_raise_and_refuses_anything_else():
    for value in ("warn", "raise", False):
        airlock.configure(strict=value)
        assert airlock.get_configuration()["strict"] == value == _strict.mode()
    with pytest.raises(ValueError, match="is not one of False, 'warn', 'raise'"):
        airlock.configure(strict="yes")
    with pytest.raises(ValueError):
        airlock.configure(strict=True)
    assert _strict.mode() is False


def test_reset_configuration_turns_it_off_and_unpatches():
    pytest.importorskip("celery")
    from celery.app.base import Celery

    original = Celery.send_task
    airlock.configure(strict="raise")
    assert Celery.send_task is not original
    airlock.reset_configuration()
    assert Celery.send_task is original and _strict.mode() is False


def test_the_django_setting_turns_it_on(settings):
    settings.AIRLOCK = {"STRICT": "warn"}
    assert _strict.mode() == "warn"
    settings.AIRLOCK = {}
    assert _strict.mode() is False


def test_a_bad_setting_is_a_system_check_error(settings):
    settings.AIRLOCK = {"STRICT": "raises"}
    with pytest.raises(SystemCheckError) as info:
        call_command("check")
    text = str(info.value)
    assert "settings.AIRLOCK['STRICT']: (airlock.E004) 'raises' is not one of" in text, text
    assert "Did you mean 'raise'?" in text
    assert _strict.mode() is False  # an invalid AIRLOCK applies nothing


@pytest.mark.django_db
def test_on_commit_is_judged_when_the_callback_publishes(django_capture_on_commit_callbacks):
    # transaction.on_commit(lambda: task.delay()) inside a scope: the publish happens when the
    # transaction commits, still inside the scope, so it bypasses the scope and is reported.
    pytest.importorskip("celery")
    from tests.celery.app import add

    airlock.configure(strict="warn")
    with pytest.warns(StrictModeWarning) as caught, airlock.scope():
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            transaction.on_commit(lambda: add.delay(1))  # ON_COMMIT
    assert [site(w) for w in caught] == call_sites(__file__, "# ON_COMMIT")
    assert "an airlock scope is active" in str(caught[0].message)
