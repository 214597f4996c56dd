"""The package layout rules: what goes in ``airlock.executors``, and names mypy can see.

``airlock.executors`` holds building blocks that import nothing outside the standard library;
``airlock.integrations.executors`` holds the destinations (see each package's docstring). No
module resolves names through a module-level ``__getattr__``, which type checkers cannot follow.
"""

from __future__ import annotations

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import airlock
from tests.processes import ROOT

PACKAGE = Path(airlock.__file__).parent


def run(code: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_building_blocks_load_only_the_standard_library():
    loaded = run(
        "import sys\n"
        "before = set(sys.modules)\n"
        "import airlock.executors\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'__mp_main__'}))"
    )
    assert loaded == "['airlock']"


def test_the_building_blocks_never_import_a_destination():
    # sync_executor is the one exception: the default executor, kept at its seed path.
    for path in sorted((PACKAGE / "executors").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                name = node.module
                assert not name.startswith("airlock.integrations") or name.endswith(
                    ".executors.sync"
                ), f"{path.name} imports {name}"


def test_no_module_resolves_names_through_a_module_level_getattr():
    for info in pkgutil.walk_packages([str(PACKAGE)], "airlock."):
        path = PACKAGE.joinpath(*info.name.split(".")[1:])
        source = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
        if not source.exists():  # the compiled scope core (airlock/_speedups.c)
            assert info.name == "airlock._speedups"
            continue
        tree = ast.parse(source.read_text())
        names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert "__getattr__" not in names, info.name


def test_the_batched_executors_import_without_redis():
    # Forced fault: redis is installed here, so it is hidden; dramatiq on RabbitMQ and Celery or
    # huey on another broker must not need it just because the batched variants are importable.
    for library in ("celery", "dramatiq", "huey"):
        pytest.importorskip(library)
    out = run(
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "from airlock.integrations.executors.celery import celery_batch_executor\n"
        "from airlock.integrations.executors.dramatiq import dramatiq_batch_executor\n"
        "from airlock.integrations.executors.huey import huey_batch_executor\n"
        "print(celery_batch_executor, dramatiq_batch_executor, huey_batch_executor)"
    )
    assert out == "celery_batch_executor dramatiq_batch_executor huey_batch_executor"


def test_no_module_is_much_longer_than_400_lines():
    # #12: each module holds one idea; a module past this has grown a second one.
    long = {
        str(path.relative_to(PACKAGE.parent)): count
        for path in [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.c")]
        if (count := len(path.read_text().splitlines())) > 420
    }
    assert not long
