"""Running the example shop's manage.py in a child process, on a database of the test's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.processes import ROOT

EXAMPLE = ROOT / "example_project"


def shop_env(db: Path, **extra: str) -> dict[str, str]:
    """The environment for a child process of the shop (pytest's own Django settings removed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOP_")}
    env.update(
        DJANGO_SETTINGS_MODULE="shop_site.settings",
        SHOP_DB=str(db),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def manage(db: Path, *args: str, **extra: str) -> str:
    """Run ``manage.py ARGS``; return its stdout, or fail with everything it printed."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=EXAMPLE,
        env=shop_env(db, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited with {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result.stdout
