"""settings.AIRLOCK: system checks through `manage.py check`, readers, and applying it."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import airlock
from airlock.exceptions import UsageError
from airlock.integrations.django import DjangoScope, get_executor, get_policy, get_setting
from airlock.integrations.executors.sync import sync_executor
from tests.django.tasks import Recorder, record

RECORDER = Recorder()


def check_output(settings, value):
    settings.AIRLOCK = value
    with pytest.raises(SystemCheckError) as info:
        call_command("check")
    return str(info.value)


def test_valid_settings_pass_the_check(settings, capsys):
    settings.AIRLOCK = {
        "POLICY": "airlock.LogOnFlush",
        "EXECUTOR": "mail",
        "EXECUTORS": {"mail": "tests.django.test_checks.RECORDER", "now": sync_executor},
        "SCOPE_KWARGS": {"using": ["default"]},
    }
    call_command("check")
    assert "no issues" in capsys.readouterr().out


def test_e001_not_a_dict(settings):
    out = check_output(settings, ["EXECUTOR"])
    assert "airlock.E001" in out and "must be a dict" in out


def test_e002_unknown_key_names_the_likely_typo(settings):
    out = check_output(settings, {"EXECUTER": "x.y"})
    assert "airlock.E002" in out
    assert "unknown key 'EXECUTER'" in out and "Did you mean 'EXECUTOR'?" in out


def test_e003_path_that_does_not_import(settings):
    out = check_output(settings, {"POLICY": "airlock.AlowAll", "EXECUTOR": "nowhere.executor"})
    assert out.count("airlock.E003") == 2
    assert "'airlock.AlowAll' does not import" in out
    assert "HINT: Check the spelling" in out


def test_e004_value_of_the_wrong_kind(settings):
    out = check_output(
        settings,
        {"POLICY": 42, "EXECUTOR": "airlock.__version__", "SCOPE": "airlock.AllowAll"},
    )
    assert out.count("airlock.E004") == 3
    assert "is not a policy" in out and "is not callable" in out and "not a subclass" in out


def test_e004_bad_executors_entry(settings):
    out = check_output(settings, {"EXECUTORS": {"mail": 3, "sms": "nowhere.sms"}})
    assert "settings.AIRLOCK['EXECUTORS']['mail']" in out and "airlock.E004" in out
    assert "settings.AIRLOCK['EXECUTORS']['sms']" in out and "airlock.E003" in out


def test_e005_unknown_executor_name(settings):
    out = check_output(settings, {"EXECUTOR": "mial", "EXECUTORS": {"mail": sync_executor}})
    assert "airlock.E005" in out and "Did you mean 'mail'?" in out


def test_e006_scope_kwargs_the_scope_does_not_accept(settings):
    out = check_output(settings, {"SCOPE_KWARGS": {"usign": "default"}})
    assert "airlock.E006" in out and "Did you mean 'using'?" in out
    out = check_output(settings, {"SCOPE_KWARGS": {"using": "nope"}})
    assert "airlock.E006" in out and "unknown database alias" in out


def test_settings_are_applied_and_reapplied_when_changed(settings):
    settings.AIRLOCK = {
        "POLICY": "airlock.DropAll",
        "EXECUTOR": "mail",
        "EXECUTORS": {"mail": "tests.django.test_checks.RECORDER"},
        "SCOPE_KWARGS": {"using": "other"},
    }
    config = airlock.get_configuration()
    assert config["scope_cls"] is DjangoScope
    assert repr(config["policy"]) == "DropAll()"
    assert config["executor"] is RECORDER and config["executors"] == {"mail": RECORDER}
    assert airlock.scope().using == ("other",)
    assert get_setting("SCOPE_KWARGS") == {"using": "other"}
    assert repr(get_policy()) == "DropAll()" and get_executor() is RECORDER
    settings.AIRLOCK = {**settings.AIRLOCK, "POLICY": "airlock.AllowAll", "EXECUTOR": None}
    with airlock.scope():
        airlock.enqueue(record, "named", _dispatch_options={"executor": "mail"})
    assert RECORDER.sent[-1] == "named"


def test_defaults_and_unknown_setting_name(settings):
    settings.AIRLOCK = {}
    assert get_setting("EXECUTOR") is None and get_executor() is None
    assert repr(get_policy()) == "AllowAll()"
    with pytest.raises(UsageError, match="unknown airlock setting 'EXECUTER'"):
        get_setting("EXECUTER")


def test_invalid_settings_make_every_scope_raise_instead_of_running_wrongly(settings):
    settings.AIRLOCK = {"EXECUTOR": "nowhere.executor"}
    with pytest.raises(ImproperlyConfigured, match=r"airlock\.E003"):
        airlock.scope()
