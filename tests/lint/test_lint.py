"""The AIR001 check, as a module, a command and a flake8 plugin, on sample files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from airlock.lint import check_file, check_source, main

SAMPLES = Path(__file__).parent / "samples"
LEGACY = SAMPLES / "legacy.py"


def flagged_lines(path: Path) -> list[int]:
    lines = path.read_text().splitlines()
    return [n for n, line in enumerate(lines, 1) if line.rstrip().endswith("# flagged")]


def test_every_direct_queue_call_is_flagged_and_noqa_silences_one_line():
    findings = check_file(LEGACY)
    lines = [f.line for f in findings]
    # The last line has a noqa for another code only: still flagged.
    assert lines == [*flagged_lines(LEGACY), len(LEGACY.read_text().splitlines())]
    assert all("AIR001" in f.message and "airlock.enqueue" in f.message for f in findings)
    assert ".delay()" in findings[0].message


def test_airlock_calls_are_not_flagged():
    assert check_file(SAMPLES / "migrated.py") == []


def test_ignore_method():
    source = "def f(sock, task):\n    sock.send(b'x')\n    task.delay(1)\n"
    assert [f.line for f in check_source(source)] == [2, 3]
    assert [f.line for f in check_source(source, ignore=["send"])] == [3]


def test_command_exit_codes_and_output(tmp_path, capsys):
    assert main([str(SAMPLES / "migrated.py")]) == 0
    assert main([str(SAMPLES)]) == 1
    out, err = capsys.readouterr()
    first = flagged_lines(LEGACY)[0]
    assert f"legacy.py:{first}:5: AIR001 direct queue call .delay()" in out
    assert "noqa: AIR001" in err
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert main([str(broken)]) == 2


def test_python_dash_m(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "airlock.lint", str(LEGACY)], capture_output=True, text=True
    )
    assert run.returncode == 1
    assert run.stdout.count("AIR001") == len(flagged_lines(LEGACY)) + 1


def test_flake8_plugin_reports_air001_and_honours_noqa():
    pytest.importorskip("flake8")
    run = subprocess.run(
        [sys.executable, "-m", "flake8", "--select=AIR", "--isolated", str(LEGACY)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    lines = [int(row.split(":")[1]) for row in run.stdout.splitlines()]
    # flake8 applies noqa itself; a noqa for another code does not silence AIR001 there either.
    assert lines == [*flagged_lines(LEGACY), len(LEGACY.read_text().splitlines())]
    assert "AIR001" in run.stdout
