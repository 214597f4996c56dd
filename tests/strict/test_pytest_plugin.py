"""The pytest plugin's ``--airlock-strict`` option and ``airlock_strict`` ini setting: real
pytest runs in a child process, with huey's MemoryHuey as the queue."""

from __future__ import annotations

import pytest

from tests.core.test_pytest_plugin import run_pytest

pytest.importorskip("huey")

BYPASS_TESTS = """
import airlock
from huey import MemoryHuey
from airlock.integrations.executors.huey import huey_executor

huey = MemoryHuey("plugin")


@huey.task()
def record(x):
    pass


def test_a_bypass_in_a_scope():
    with airlock.scope():
        record(1)
    assert huey.pending_count() == 1


def test_the_same_through_airlock():
    with airlock.scope(executor=huey_executor):
        airlock.enqueue(record, 2)
    assert huey.pending_count() >= 1
"""
LINE = BYPASS_TESTS.splitlines().index("        record(1)") + 1  # textwrap.dedent keeps lines


@pytest.mark.parametrize("how", ["option", "ini"])
def test_strict_raise_fails_the_test_that_bypasses_naming_its_line(tmp_path, how):
    files = {"test_bypass.py": BYPASS_TESTS}
    args = ["--airlock-strict"] if how == "option" else []
    if how == "ini":
        files["pytest.ini"] = "[pytest]\nairlock_strict = raise\n"
    report = run_pytest(tmp_path, files, *args)
    assert "1 failed, 1 passed" in report, report
    assert "StrictModeError" in report and f"test_bypass.py:{LINE} bypasses airlock" in report


def test_strict_warn_lets_the_tests_pass_and_lists_the_warning(tmp_path):
    report = run_pytest(tmp_path, {"test_bypass.py": BYPASS_TESTS}, "--airlock-strict=warn")
    assert "2 passed" in report, report
    assert "StrictModeWarning" in report and f"test_bypass.py:{LINE}" in report


def test_without_the_option_nothing_is_reported(tmp_path):
    report = run_pytest(tmp_path, {"test_bypass.py": BYPASS_TESTS})
    assert "2 passed" in report and "Strict" not in report, report


def test_a_bad_ini_value_is_a_usage_error(tmp_path):
    files = {"test_bypass.py": BYPASS_TESTS, "pytest.ini": "[pytest]\nairlock_strict = loud\n"}
    report = run_pytest(tmp_path, files)
    assert "airlock_strict: strict 'loud' is not one of" in report, report
