"""hatch_build.py: a wheel carries the compiled scope core when a C compiler is there, and the
install goes on without it (the pure-Python core) when there is none.

Each test builds a real wheel of this project with pip (no build isolation: hatchling and
setuptools come from the dev extra), once with the machine's compiler and once with a
compiler that fails (``CC=false``: the fault of a machine without one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("hatchling")
pytest.importorskip("setuptools")


def _wheel(tmp_path: Path, **env: str) -> tuple[Path, str]:
    source = tmp_path / "src"  # a copy: the build must not touch the checkout
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "site", "*.so", "__pycache__")
    )
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "-v", "-w", str(tmp_path / "dist"), str(source)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    return wheel, done.stdout + done.stderr


def test_a_wheel_built_with_a_compiler_carries_the_compiled_core(tmp_path):
    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler on this machine")
    wheel, _ = _wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert f"airlock/_speedups{suffix}" in names
    assert "airlock/_speedups.c" not in names and "airlock/_core.py" in names
    assert "-none-any" not in wheel.name  # tagged for this platform and Python


def test_without_a_working_compiler_the_wheel_is_pure_python_and_says_why(tmp_path):
    wheel, log = _wheel(tmp_path, CC="false")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if "_speedups." in n and not n.endswith((".c", ".pyi"))]
    assert wheel.name.endswith("-py3-none-any.whl")
    assert "could not compile airlock/_speedups.c" in log
    assert "pure-Python scope" in log


def test_asked_for_pure_python_the_wheel_skips_the_compiler(tmp_path):
    wheel, log = _wheel(tmp_path, AIRLOCK_BUILD_PURE="1")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert "could not compile" not in log


def test_an_editable_build_that_makes_no_module_removes_the_one_built_before(tmp_path):
    # An editable install compiles the module next to the source; a later build that makes
    # none (asked for pure Python, or the compiler failing) must not leave the old one in use.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".*", "build", "site", "*.so", "__pycache__")
    )
    built = source / "airlock" / f"_speedups{sysconfig.get_config_var('EXT_SUFFIX')}"

    def build_editable(**env: str) -> None:
        done = subprocess.run(
            [sys.executable, "-c", "import hatchling.build as b; b.build_editable('dist')"],
            cwd=source, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    if shutil.which(sysconfig.get_config_var("CC").split()[0]) is None:
        pytest.skip("no C compiler on this machine")
    build_editable()
    assert built.exists()
    build_editable(AIRLOCK_BUILD_PURE="1")
    assert not built.exists()
    build_editable()
    build_editable(CC="false")
    assert not built.exists()
