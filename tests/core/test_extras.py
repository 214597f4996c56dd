"""A missing third-party package names the extra to install, for every integration.

The packages are installed here, so each case forces the fault: a fresh interpreter sets
``sys.modules[name] = None`` for the package (and anything that would stand in for it), which
makes ``import name`` fail exactly as on a machine without it. Nothing else is faked.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from airlock.exceptions import MissingExtraError
from airlock.integrations._extras import DISTRIBUTION, EXTRAS, require
from tests.processes import ROOT

IMPORT = "import importlib; importlib.import_module({module!r})"

# (what to run, packages made absent, extra the message must name)
CASES = [
    (IMPORT.format(module="airlock.integrations.executors.celery"), ["celery"], "celery"),
    (IMPORT.format(module="airlock.integrations.celery"), ["celery"], "celery"),
    (IMPORT.format(module="airlock.integrations.executors.dramatiq"), ["dramatiq"], "dramatiq"),
    (IMPORT.format(module="airlock.integrations.dramatiq"), ["dramatiq"], "dramatiq"),
    (IMPORT.format(module="airlock.integrations.executors.huey"), ["huey"], "huey"),
    (IMPORT.format(module="airlock.integrations.huey"), ["huey"], "huey"),
    (IMPORT.format(module="airlock.integrations.executors.django_q"), ["django_q"], "django-q"),
    (IMPORT.format(module="airlock.integrations.django_q"), ["django_q"], "django-q"),
    (
        IMPORT.format(module="airlock.integrations.executors.django_tasks"),
        ["django_tasks", "django.tasks"],  # the backport, and Django 6's own framework
        "django-tasks",
    ),
    (
        IMPORT.format(module="airlock.integrations.django_tasks"),
        ["django_tasks", "django.tasks"],
        "django-tasks",
    ),
    (IMPORT.format(module="airlock.integrations.executors.ray"), ["ray"], "ray"),
    (
        "from airlock.integrations.executors.aws_lambda import lambda_executor; lambda_executor()",
        ["boto3"],
        "lambda",
    ),
    (IMPORT.format(module="airlock.integrations.django"), ["django"], "django"),
    (IMPORT.format(module="airlock.integrations.django.middleware"), ["django"], "django"),
    (IMPORT.format(module="airlock.integrations.django.scope"), ["django"], "django"),
    (IMPORT.format(module="airlock.integrations.django.outbox.relay"), ["django"], "django"),
    (IMPORT.format(module="airlock.integrations.sqlalchemy"), ["sqlalchemy"], "sqlalchemy"),
    (IMPORT.format(module="airlock.integrations.sqlalchemy.scope"), ["sqlalchemy"], "sqlalchemy"),
    (IMPORT.format(module="airlock.integrations.fastapi"), ["fastapi"], "fastapi"),
    (IMPORT.format(module="airlock.integrations.flask"), ["flask"], "flask"),
    (
        IMPORT.format(module="airlock.integrations.django.debug_toolbar"),
        ["debug_toolbar"],
        "debug-toolbar",
    ),
]

SCRIPT = """
import sys
for name in {absent!r}:
    sys.modules[name] = None  # forced fault: this package is installed, so hide it
try:
    {code}
except ImportError as exc:
    print(type(exc).__name__)
    print(exc)
else:
    print("no error")
"""


def run_without(absent: list[str], code: str) -> tuple[str, str]:
    """Run ``code`` in a fresh interpreter where ``absent`` cannot be imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT).format(absent=absent, code=code)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kind, _, message = done.stdout.partition("\n")
    return kind, message.strip()


@pytest.mark.parametrize(("code", "absent", "extra"), CASES, ids=[c[0][-45:] for c in CASES])
def test_a_missing_package_names_its_extra_and_tested_version(code, absent, extra):
    kind, message = run_without(absent, code)
    package, tested = EXTRAS[extra]
    assert kind == "MissingExtraError", message
    assert f'pip install "{DISTRIBUTION}[{extra}]"' in message
    assert f"tested with {package}>={tested}" in message


def test_a_lazy_import_stays_lazy():
    # Importing the Lambda module needs no boto3: only building an executor without a client does.
    code = "import sys, airlock.integrations.executors.aws_lambda; assert not sys.modules['boto3']"
    assert run_without(["boto3"], code) == ("no error", "")


def test_the_error_keeps_the_original_one():
    with pytest.raises(MissingExtraError) as caught:
        with require("celery", "tests"):
            raise ModuleNotFoundError("No module named 'kombu'", name="kombu")
    error = caught.value
    assert isinstance(error, ImportError) and error.name == "kombu"
    assert "No module named 'kombu'" in str(error) and "tests needs celery" in str(error)
    assert isinstance(error.__cause__, ModuleNotFoundError)


def test_the_tested_versions_are_the_lower_bounds_in_pyproject():
    tomllib = pytest.importorskip("tomllib")
    with open(ROOT / "pyproject.toml", "rb") as file:
        extras = tomllib.load(file)["project"]["optional-dependencies"]
    for extra, (package, tested) in EXTRAS.items():
        # celery[redis]>=5.3,<6: the lower bound, whatever the cap
        bounds = [re.sub(r"\[.*?\]", "", r).lower().split(",")[0] for r in extras[extra]]
        assert f"{package.lower()}>={tested}" in bounds, extra
