"""benchmarks/asgi_middleware.py keeps working: each side's app answers its requests.

Runs the benchmark's child mode (no valgrind, a few requests) for every side; the child exits
non-zero unless every request got a 200. No timing is asserted: the figures are the
benchmark's business.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.processes import ROOT
from tests.services import require_module

require_module("starlette", "fastapi")

SCRIPT = ROOT / "benchmarks" / "asgi_middleware.py"
SIDES = ["bare", "middleware", "bare_call", "middleware_enqueue", "middleware_enqueue_on_loop"]


def test_every_side_of_the_asgi_benchmark_answers_200():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    children = {
        side: subprocess.Popen(
            [sys.executable, str(SCRIPT), "--child", "3", side],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for side in SIDES
    }
    for side, child in children.items():
        output = child.communicate(timeout=120)[0].decode()
        assert child.returncode == 0, f"{side}: {output}"
