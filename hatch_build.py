"""Build hook: compile airlock/_speedups.c, the C half of a scope's ``with`` (airlock/_core.py).

A wheel gets the compiled module (and a platform tag); an editable install builds it in place,
next to the source, under its own ABI-tagged name (so each Python's venv keeps its own). When
it cannot be built (no C compiler, or ``AIRLOCK_BUILD_PURE=1``) the install goes on without it
and airlock runs its pure-Python scope: the same behaviour, slower (docs/performance.md).
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MODULE = "airlock._speedups"


def compile_speedups(root: Path, into: Path) -> Path:
    """Compile the module with setuptools' compiler setup; returns the file made in ``into``."""
    from setuptools import Distribution, Extension
    from setuptools.command.build_ext import build_ext

    source = "airlock/_speedups.c"
    dist = Distribution({"name": "airlock-speedups", "ext_modules": [Extension(MODULE, [source])]})
    dist.script_name = "hatch_build.py"
    command = build_ext(dist)
    with tempfile.TemporaryDirectory(prefix="airlock-build-") as temp:
        command.build_lib, command.build_temp = temp, os.path.join(temp, "obj")
        command.ensure_finalized()
        cwd = os.getcwd()
        os.chdir(root)  # the source path is relative to the project
        try:
            command.run()
        finally:
            os.chdir(cwd)
        built = Path(command.get_ext_fullpath(MODULE))
        into.mkdir(parents=True, exist_ok=True)
        target = into / built.name
        # Replaced, not overwritten: a process may have the old one loaded.
        staged = into / f".{built.name}.new"
        shutil.copyfile(built, staged)
        os.replace(staged, target)
    return target


def asked_pure() -> bool:
    """``AIRLOCK_BUILD_PURE``: any value but empty, 0 or false (as ``AIRLOCK_PURE_PYTHON``)."""
    return os.environ.get("AIRLOCK_BUILD_PURE", "").lower() not in ("", "0", "false")


class SpeedupsHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        editable = version == "editable"
        into = root / "airlock" if editable else root / "build" / "speedups"
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        if editable:  # one built earlier must not stay in use if this build makes none
            (into / f"_speedups{suffix}").unlink(missing_ok=True)
        if asked_pure():
            return
        try:
            built = compile_speedups(root, into)
        except Exception as error:  # any failure: install the pure-Python scope
            self.app.display_warning(
                f"airlock: could not compile airlock/_speedups.c ({error}); installing without "
                "it: airlock runs its pure-Python scope (same behaviour, slower)."
            )
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if not editable:
            build_data["force_include"][str(built)] = f"airlock/{built.name}"
        self.app.display_info(f"airlock: compiled airlock/_speedups{suffix}")
