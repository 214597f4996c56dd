"""A suite whose optional library is missing is skipped with a reason, never a collection error.

The libraries are installed here, so the fault is forced: a plugin loaded first sets
``sys.modules[name] = None``, as on a machine without the library, and pytest runs the suite
in a child process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ROOT


@pytest.mark.parametrize(
    ("library", "suite", "extra"),
    [
        ("boto3", "tests/executors/test_aws_lambda.py", "lambda"),
        ("celery", "tests/celery", "celery"),
        ("celery", "tests/executors/test_recipes.py", "celery"),
        ("sqlalchemy", "tests/sqlalchemy", "sqlalchemy"),
        ("fastapi", "tests/web/test_asgi.py", "fastapi"),
        ("fastapi", "tests/web/test_uvicorn.py", "fastapi"),
        ("flask", "tests/web/test_flask.py", "flask"),
    ],
)
def test_the_suite_skips_without_its_library(tmp_path: Path, library, suite, extra):
    (tmp_path / "hide_library.py").write_text(f"import sys\nsys.modules[{library!r}] = None\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("AIRLOCK_REQUIRE_SERVICES", None)  # that turns the skip into a failure on purpose
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hide_library", "-q", "-rs", suite],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    # 5: "no tests collected", what pytest answers when every module skipped at import.
    assert done.returncode in (0, 5), done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{library} is not installed (pip install 'django-airlock[{extra}]')" in done.stdout
    assert " skipped" in done.stdout and "ERROR" not in done.stdout and " error" not in done.stdout
