"""benchmarks/vs_airlock_py.py runs end to end in its quick mode and reports every figure.

Installs airlock-py from the package index into a throwaway venv (about 2 s with the index
reachable); skipped when it cannot be installed. Asserts what the report holds, never a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "vs_airlock_py.py"


def test_quick_run_reports_each_figure_with_its_baseline_ratio_and_target() -> None:
    env = {**os.environ, "AIRLOCK_BENCH_QUICK": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "10"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240
    )
    if proc.returncode == 3:
        pytest.skip(f"airlock-py not installable here: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[0])

    assert result["airlock_py"] == "0.1.0a3"
    enqueue = result["enqueue_flush_per_intent"]
    assert enqueue["target"] == 0.5
    assert set(enqueue["sizes"]) == {"1", "10", "100"}
    django = result["django_per_intent"]
    assert django["target"] == 1.5
    assert set(django["sizes"]) == {"1", "10", "100"}
    rows = [*enqueue["sizes"].values(), result["empty_scope"], *django["sizes"].values()]
    for row in rows:
        assert row["airlock_us"] > 0 and row["baseline_us"] > 0
        # Both times are rounded to the ns: compare within that rounding.
        assert row["ratio"] == pytest.approx(row["airlock_us"] / row["baseline_us"], rel=0.02)
    assert result["empty_scope"]["target"] == 3.0
    memory = result["bytes_per_intent"]
    assert memory["target"] == 300
    assert 0 < memory["airlock"] < 10_000 and 0 < memory["airlock_py"] < 10_000
