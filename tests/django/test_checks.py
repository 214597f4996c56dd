"""settings.AIRLOCK: system checks through `manage.py check`, readers, and applying it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import airlock
from airlock.exceptions import UsageError
from airlock.integrations.django import DjangoScope, get_executor, get_policy, get_setting
from airlock.integrations.django.checks import check_settings
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


def test_e004_bad_outside_scope_and_commands_modes(settings):
    out = check_output(
        settings, {"OUTSIDE_SCOPE": "on-commit", "COMMANDS": {"migrate": "scoped", "*": None}}
    )
    assert out.count("airlock.E004") == 3
    assert "settings.AIRLOCK['OUTSIDE_SCOPE']: (airlock.E004) 'on-commit' is not one of" in out
    assert "Did you mean 'on_commit'?" in out
    assert "settings.AIRLOCK['COMMANDS']['migrate']: (airlock.E004) 'scoped' is not a mode" in out
    assert "Did you mean 'scope'?" in out and "settings.AIRLOCK['COMMANDS']['*']" in out


def test_e004_commands_that_is_not_a_dict(settings):
    out = check_output(settings, {"COMMANDS": "scope"})
    assert "settings.AIRLOCK['COMMANDS']: (airlock.E004) must be False or a dict" in out


def test_valid_outside_scope_and_commands_pass_the_check(settings, capsys):
    for value in (
        {"OUTSIDE_SCOPE": "on_commit", "COMMANDS": {"migrate": "scope", "*": False}},
        {"OUTSIDE_SCOPE": "raise", "COMMANDS": False},
        {"COMMANDS": {"shell": "drop", "import_orders": True, "migrate": "on_commit"}},
    ):
        settings.AIRLOCK = value
        call_command("check")
        assert "no issues" in capsys.readouterr().out


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


def test_e002_lower_case_key_names_the_upper_case_one(settings):
    out = check_output(settings, {"executor": "airlock.integrations.executors.sync.sync_executor"})
    assert "settings.AIRLOCK['executor']: (airlock.E002) unknown key 'executor'" in out
    assert "Did you mean 'EXECUTOR'?" in out


def test_e004_a_module_where_an_executor_belongs_names_the_executor_inside(settings):
    out = check_output(settings, {"EXECUTOR": "airlock.integrations.executors.sync"})
    assert (
        "settings.AIRLOCK['EXECUTOR']: (airlock.E004) 'airlock.integrations.executors.sync' is "
        "a module, not an executor; did you mean "
        "airlock.integrations.executors.sync.sync_executor?"
    ) in out


def test_e004_the_celery_module_instead_of_its_executor(settings):
    pytest.importorskip("celery")
    out = check_output(settings, {"EXECUTORS": {"mail": "airlock.integrations.executors.celery"}})
    assert "settings.AIRLOCK['EXECUTORS']['mail']: (airlock.E004)" in out
    assert "did you mean " in out
    assert "airlock.integrations.executors.celery.celery_executor?" in out


def test_messages_start_with_the_setting_path_once(settings):
    out = check_output(settings, {"POLICY": "airlock.AlowAll"})
    assert "settings.AIRLOCK['POLICY']: (airlock.E003) 'airlock.AlowAll' does not import" in out
    assert out.count("settings.AIRLOCK['POLICY']") == 1


# Apps that are not installed register no checks: these run `manage.py check` in a project of
# their own, as a user would.
ROOT = Path(__file__).resolve().parents[2]
MIDDLEWARE = "airlock.integrations.django.AirlockMiddleware"
SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}


def project(tmp_path, apps, middleware=(MIDDLEWARE,), airlock=None, silenced=()):
    """Write a settings module (and an app that imports airlock's Django integration)."""
    (tmp_path / "airlock_check_project.py").write_text(
        textwrap.dedent(
            f"""
            SECRET_KEY = "not-secret"
            INSTALLED_APPS = ["django.contrib.contenttypes", *{list(apps)!r}]
            MIDDLEWARE = {list(middleware)!r}
            DATABASES = {{"default": {SQLITE!r}}}
            ROOT_URLCONF = "airlock_check_project"
            SILENCED_SYSTEM_CHECKS = {list(silenced)!r}
            AIRLOCK = {airlock or {}!r}
            urlpatterns = []
            """
        )
    )
    app = tmp_path / "airlock_check_app"
    app.mkdir(exist_ok=True)
    (app / "__init__.py").write_text("")
    # A models module that uses the integration, as a project's code does.
    (app / "models.py").write_text("from airlock.integrations.django import DjangoScope\n")
    (app / "middleware.py").write_text(
        "from airlock.integrations.django import AirlockMiddleware\n\n\n"
        "class ShopMiddleware(AirlockMiddleware):\n    pass\n"
    )
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "airlock_check_project",
    }


def run(env, *args):
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_e007_middleware_without_the_app_fails_manage_py_check(tmp_path):
    env = project(tmp_path, ["airlock_check_app"])
    result = run(env, "-m", "django", "check")
    assert result.returncode == 1
    assert "settings.MIDDLEWARE: (airlock.E007) AirlockMiddleware is in MIDDLEWARE" in result.stderr
    assert "HINT: Add 'airlock.integrations.django' to INSTALLED_APPS." in result.stderr


def test_e007_finds_a_subclass_and_runs_when_only_the_outbox_app_is_installed(tmp_path):
    env = project(
        tmp_path,
        ["airlock.integrations.django.outbox"],
        middleware=["airlock_check_app.middleware.ShopMiddleware"],
    )
    result = run(env, "-m", "django", "check")
    assert result.returncode == 1
    assert "(airlock.E007)" in result.stderr
    assert "settings.INSTALLED_APPS: (airlock_outbox.E005)" in result.stderr


def test_e007_the_middleware_refuses_to_start_when_check_could_not_see_it(tmp_path):
    # Nothing in this project imports airlock at setup, so no check is registered; the
    # middleware itself refuses to be built, which stops every server and the test client.
    env = project(tmp_path, [])
    assert run(env, "-m", "django", "check").returncode == 0
    request = "import django; django.setup(); from django.test import Client; Client().get('/')"
    result = run(env, "-c", request)
    assert result.returncode == 1
    assert "ImproperlyConfigured: (airlock.E007)" in result.stderr
    env = project(tmp_path, [], silenced=["airlock.E007"])
    assert run(env, "-c", request).returncode == 0


def test_the_app_and_the_middleware_together_pass(tmp_path):
    env = project(tmp_path, ["airlock.integrations.django", "airlock_check_app"])
    result = run(env, "-m", "django", "check")
    assert result.returncode == 0, result.stderr


def test_e008_outbox_setting_without_the_outbox_app_says_to_add_it(tmp_path):
    env = project(tmp_path, ["airlock.integrations.django"], airlock={"OUTBOX": {"DURABLE": True}})
    result = run(env, "-m", "django", "check")
    assert result.returncode == 1
    assert "settings.AIRLOCK['OUTBOX']: (airlock.E008) is set, but" in result.stderr
    assert "HINT: Add 'airlock.integrations.django.outbox' to INSTALLED_APPS" in result.stderr


def test_e004_a_module_that_fails_to_import_says_why(settings, tmp_path, monkeypatch):
    package = tmp_path / "extra_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "executors.py").write_text(
        'raise ImportError(\'needs Celery: pip install "airlock[celery]"\')\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = check_output(settings, {"EXECUTOR": "extra_pkg.executors"})
    assert (
        "settings.AIRLOCK['EXECUTOR']: (airlock.E004) 'extra_pkg.executors' is a module, not an "
        'executor, and importing it fails: needs Celery: pip install "airlock[celery]"'
    ) in out


@pytest.mark.django_db(transaction=True, available_apps=["tests.django"])
def test_available_apps_in_a_test_hide_no_installed_app_from_airlock(settings):
    # TransactionTestCase.available_apps narrows apps.is_installed(); the checks must not take
    # that for a missing app, or every scope would refuse to open.
    settings.AIRLOCK = {"OUTBOX": {"DURABLE": False}}
    assert check_settings() == []
    with airlock.scope() as scope:
        assert isinstance(scope, DjangoScope)
