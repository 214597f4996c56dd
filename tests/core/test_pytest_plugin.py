"""The pytest plugin's airlock_scope fixture, --airlock-scope / ini option, and airlock_capture
with code that enqueues outside any scope: real pytest runs in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.processes import ROOT

EFFECTS = """
from pathlib import Path

SENT = Path(__file__).with_name("sent.txt")


def write(label):
    with SENT.open("a") as f:
        f.write(label + "\\n")


def sent():
    return SENT.read_text().splitlines() if SENT.exists() else []
"""

SCOPE_TESTS = """
import airlock
import pytest
from effects import sent, write


def test_passes(airlock_scope):
    airlock.enqueue(write, "passed")
    assert [str(i) for i in airlock_scope.intents] == ["write('passed')"]
    assert sent() == []  # held until the test is over


def test_fails(airlock_scope):
    airlock.enqueue(write, "failed")
    assert False, "this test fails on purpose"


def test_the_passing_test_was_flushed_and_the_failing_one_discarded():
    assert sent() == ["passed"]


def test_a_scope_of_the_test_flushes_on_its_own(airlock_scope):
    with airlock.scope():
        airlock.enqueue(write, "inner")
    assert sent() == ["passed", "inner"]
    assert airlock_scope.intents == []


def test_without_the_fixture_there_is_no_scope():
    with pytest.raises(airlock.NoScopeError):
        airlock.enqueue(write, "nowhere")
"""

OPTION_TESTS = """
import airlock
import pytest
from effects import sent, write


@pytest.fixture
def order():
    airlock.enqueue(write, "from a fixture")  # fixtures run inside the scope too
    return 7


def test_every_test_runs_in_a_scope(order):
    airlock.enqueue(write, "from the test")
    assert sent() == []


def test_it_was_flushed():
    assert sent() == ["from a fixture", "from the test"]


@pytest.mark.no_airlock_scope
def test_a_marked_test_has_none():
    with pytest.raises(airlock.NoScopeError):
        airlock.enqueue(write, "nowhere")
"""

CAPTURE_TESTS = """
import airlock
from effects import sent, write

SEEN = []


def test_capture_works_for_code_without_a_scope(airlock_capture):
    airlock.enqueue(write, "captured", _dispatch_options={"queue": "mail"})
    [record] = airlock_capture
    assert record.fate == "dispatched" and record.args == ("captured",)
    assert record.dispatch_options == {"queue": "mail"}


def test_capture_with_the_scope_fixture_sees_the_flush(airlock_scope, airlock_capture):
    airlock.enqueue(write, "held")
    assert [r.fate for r in airlock_capture] == ["pending"]
    SEEN.append(airlock_capture)


def test_the_capture_outlived_the_scope():
    assert [r.fate for r in SEEN[0]] == ["dispatched"]
    assert sent() == []  # capture runs nothing


def test_capture_executing_runs_code_without_a_scope(airlock_capture_executing):
    airlock.enqueue(write, "ran")
    assert sent() == ["ran"]
"""


DJANGO_SETTINGS = """
SECRET_KEY = "plugin"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth",
                  "airlock.integrations.django"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "plugin.sqlite3"}}
"""

DJANGO_TESTS = """
import airlock
import pytest
from django.contrib.auth.models import User
from effects import sent, write


def count_users():
    write(f"users: {User.objects.count()}")


@pytest.mark.django_db(transaction=True)
def test_the_scope_flushes_before_the_database_is_flushed(airlock_scope):
    User.objects.create(username="ann")
    airlock.enqueue(count_users)
    assert type(airlock_scope).__mro__[1].__name__ == "DjangoScope"


def test_even_when_asked_for_before_the_database_fixture(airlock_scope, transactional_db):
    User.objects.create(username="ann")
    airlock.enqueue(count_users)
    assert type(airlock_scope).__mro__[1].__name__ == "DjangoScope"


def test_the_tasks_saw_the_rows():
    assert sent() == ["users: 1", "users: 1"]
"""


def run_pytest(path: Path, files: dict[str, str], *args: str, django: bool = False) -> str:
    for name, code in {"effects.py": EFFECTS, **files}.items():
        path.joinpath(name).write_text(textwrap.dedent(code))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    plugins = ["--ds=plugin_settings"] if django else ["-p", "no:django"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins,
         "-p", "no:randomly", "--rootdir", str(path), *args],
        cwd=path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_the_airlock_scope_fixture(tmp_path):
    report = run_pytest(tmp_path, {"test_scope.py": SCOPE_TESTS})
    assert "1 failed, 4 passed" in report, report
    assert "this test fails on purpose" in report


@pytest.mark.parametrize("how", ["option", "ini"])
def test_every_test_in_a_scope_with_the_option_or_the_ini_setting(tmp_path, how):
    files = {"test_option.py": OPTION_TESTS}
    if how == "ini":
        files["pytest.ini"] = "[pytest]\nairlock_scope = true\n"
    report = run_pytest(tmp_path, files, *(["--airlock-scope"] if how == "option" else []))
    assert "3 passed" in report, report


def test_airlock_capture_and_code_that_enqueues_without_a_scope(tmp_path):
    report = run_pytest(tmp_path, {"test_capture.py": CAPTURE_TESTS})
    assert "4 passed" in report, report


def test_with_pytest_django_the_scope_flushes_while_the_database_is_there(tmp_path):
    files = {"plugin_settings.py": DJANGO_SETTINGS, "test_db.py": DJANGO_TESTS}
    report = run_pytest(tmp_path, files, django=True)
    assert "3 passed" in report, report
