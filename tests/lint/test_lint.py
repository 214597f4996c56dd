"""The AIR001 check, as a module, a command and a flake8 plugin, on sample files."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from airlock._lint_tasks import ACTOR, HUEY_TASK, TaskNames
from airlock.lint import check_file, check_source, main

SAMPLES = Path(__file__).parent / "samples"
LEGACY = SAMPLES / "legacy.py"
MAIL = SAMPLES / "mail.py"
SHOP = SAMPLES / "shop"


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


def test_ignore_method_skips_a_name_on_every_receiver():
    source = "def f(calendar, task):\n    calendar.schedule(1)\n    task.delay(1)\n"
    assert [f.line for f in check_source(source)] == [2, 3]
    assert [f.line for f in check_source(source, ignore=["schedule"])] == [3]


@pytest.mark.parametrize("module", ["views", "huey_tasks", "djhuey_tasks", "celery_tasks"])
def test_real_queue_code_flags_exactly_the_marked_lines(module):
    path = SHOP / f"{module}.py"
    assert [f.line for f in check_file(path)] == flagged_lines(path)


def test_mail_sockets_generators_and_signals_are_not_flagged():
    source = MAIL.read_text()
    assert source.count(".send(") >= 6  # the sample does exercise every kind of .send()
    assert check_file(MAIL) == []


def test_djangos_own_mail_and_signal_code_is_not_flagged(capsys):
    django = Path(importlib.import_module("django").__file__).parent
    assert "mail.send()" in (django / "core" / "mail" / "__init__.py").read_text()
    assert main([str(django)]) == 0, capsys.readouterr().out


def test_what_is_known_is_what_dramatiq_and_huey_say_at_run_time():
    """Every public name of the sample task modules: the lint's verdict against the real type."""
    pytest.importorskip("dramatiq")
    pytest.importorskip("huey")
    probe = (
        "import json, sys, dramatiq, huey.api; sys.path.insert(0, sys.argv[1]); "
        "import shop.dramatiq_tasks as d, shop.huey_tasks as h; "
        "print(json.dumps({m.__name__: {n: 'dramatiq actor' if isinstance(o, dramatiq.Actor) "
        "or hasattr(o, '__actor__') else 'huey task' if isinstance(o, huey.api.TaskWrapper) "
        "else None for n, o in vars(m).items() if not n.startswith('_')} for m in (d, h)}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe, str(SAMPLES)], capture_output=True, text=True, check=True
    )
    truth = json.loads(run.stdout)
    assert truth["shop.dramatiq_tasks"]["Reconcile"] == ACTOR  # the probe sees each kind
    assert truth["shop.huey_tasks"]["nightly"] == HUEY_TASK
    for module, names in truth.items():
        path = SAMPLES / Path(*module.split(".")).with_suffix(".py")
        known = TaskNames.for_file(ast.parse(path.read_text()), path)
        assert {n: known.kind(ast.Name(n)) for n in names} == names, module


def test_definitions_in_the_module_itself_are_known_without_a_path():
    source = (
        "import dramatiq\n"
        "from tasks import elsewhere\n"
        "@dramatiq.actor(queue_name='mail')\n"
        "def mail(order_id): ...\n"
        "def checkout(order, gen, sock):\n"
        "    mail.send(order.id)\n"
        "    elsewhere.send(order.id)\n"  # imported from a file nobody gave: not known
        "    gen.send(None)\n"
        "    sock.send(b'x')\n"
    )
    assert [f.line for f in check_source(source)] == [6]


def test_ignore_call_is_precise():
    source = (
        "def f(heartbeat, report, scheduler, tasks):\n"
        "    heartbeat.delay()\n"
        "    report.delay(1)\n"
        "    scheduler.schedule(1)\n"
        "    tasks.ping.schedule(1)\n"
    )
    assert [f.line for f in check_source(source, ignore_calls=["heartbeat.delay"])] == [3, 4, 5]
    assert [f.line for f in check_source(source, ignore_calls=["scheduler.*"])] == [2, 3, 5]
    # The pattern matches the whole callee: "*.schedule" also takes tasks.ping.schedule.
    assert [f.line for f in check_source(source, ignore_calls=["*.schedule"])] == [2, 3]
    views = check_file(SHOP / "views.py", ignore_calls=["send_receipt.send"])
    assert len(views) == len(flagged_lines(SHOP / "views.py")) - 1
    assert not any(".send() on the dramatiq actor send_receipt " in f.message for f in views)


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


def test_flake8_plugin_follows_imports_and_takes_the_ignore_options(tmp_path):
    pytest.importorskip("flake8")
    views = SHOP / "views.py"
    command = [sys.executable, "-m", "flake8", "--select=AIR", "--isolated", str(views)]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    lines = [int(row.split(":")[1]) for row in run.stdout.splitlines()]
    assert lines == flagged_lines(views)
    run = subprocess.run(
        [
            *command,
            "--airlock-ignore-call=send_receipt.send,*.delay",
            "--airlock-ignore-method=send",
        ],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1, run.stderr
    assert ".send() on" not in run.stdout and ".delay()" not in run.stdout
    assert "calling a huey task" in run.stdout


@pytest.mark.parametrize(
    ("suite", "shown"),
    [
        ("dramatiq", ".send() on the dramatiq actor app.record "),
        ("huey", "app.record() (calling a huey task enqueues it)"),
    ],
)
def test_the_end_to_end_suites_direct_sends_are_found(suite, shown):
    """Our own e2e suites send directly on purpose (the baseline): actors from worker modules."""
    urls = Path(__file__).resolve().parents[2] / "integrations" / suite / "urls.py"
    lines = urls.read_text().splitlines()
    found = {lines[f.line - 1].strip(): f.message for f in check_file(urls)}
    # The baseline's direct send, and the strict-mode suite's deliberate bypass: nothing else.
    assert len(found) == 2
    baseline = next(message for line, message in found.items() if "send_direct=lambda" in line)
    assert shown in baseline
    assert any("# STRICT BYPASS" in line for line in found)
