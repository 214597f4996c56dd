"""Helpers shared by the broker benchmarks: timing, Redis, results on disk, tables.

Timing is the minimum over several rounds of wall-clock time (``time.perf_counter``): the
machine these figures come from is shared and noisy, and the minimum is the figure least
disturbed by other processes. Broker benchmarks use Redis DBs 8-9 only and flush only those.
Set ``AIRLOCK_BENCH_QUICK=1`` for a fast smoke run (sizes up to 1,000, fewer rounds).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python benchmarks/x.py` from a fresh clone
    sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
SIZES = [1, 10, 100, 1000] if QUICK else [1, 10, 100, 1000, 10_000]
RESULTS = ROOT / "build" / "bench"
BROKER_DB = 8


#: A flush of up to this many intents is timed in a run of ``STEADY_REPEATS`` back to back (as a
#: web server sends request after request); bigger flushes are timed one per round.
STEADY_MAX = 10
STEADY_REPEATS = 20


def rounds_for(size: int) -> int:
    """More rounds for small flushes (cheap, noisy), at least 3 for the biggest."""
    if size <= STEADY_MAX:
        return 5 if QUICK else 25
    if QUICK:
        return max(2, min(20, 500 // size))
    return max(3, min(100, 5000 // size))


def repeats_for(size: int) -> int:
    """How many flushes of ``size`` one timed round runs back to back."""
    return STEADY_REPEATS if size <= STEADY_MAX else 1


def per_intent_us(
    run: Callable[[int], object], size: int, *, setup: Callable[[], object] | None = None
) -> float:
    """Minimum over rounds of ``run(size)``'s wall time, in microseconds per intent."""
    best = float("inf")
    for _ in range(rounds_for(size)):
        if setup is not None:
            setup()
        best = min(best, _round_us(run, size))
    return best


def _round_us(run: Callable[[int], object], size: int) -> float:
    """One timed round: ``repeats_for(size)`` flushes of ``size``, in microseconds per intent."""
    repeats = repeats_for(size)
    gc.collect()
    start = time.perf_counter()
    for _ in range(repeats):
        run(size)
    return (time.perf_counter() - start) / (size * repeats) * 1e6


def redis_url(db: int = BROKER_DB) -> str:
    from tests.services import redis_url as url

    return url(db)


def redis_client(db: int = BROKER_DB) -> Any:
    import redis

    return redis.Redis.from_url(redis_url(db))


def measure_series(
    series: dict[str, Callable[[int], object]], *, setup: Callable[[], object]
) -> dict[str, dict[str, float]]:
    """``{series name: {size: us per intent}}`` for every size in ``SIZES``.

    The series take turns round by round, so a burst of load elsewhere on the machine hits
    them alike instead of spoiling one series' figures. A small flush is timed in a run of
    ``STEADY_REPEATS`` flushes back to back (``repeats_for``), so its figure, like a raw
    round trip's, is the steady cost per call rather than one cold call's.
    """
    results: dict[str, dict[str, float]] = {name: {} for name in series}
    for size in SIZES:
        best = dict.fromkeys(series, float("inf"))
        for _ in range(rounds_for(size)):
            for name, run in series.items():
                setup()
                best[name] = min(best[name], _round_us(run, size))
        for name in series:
            results[name][str(size)] = round(best[name], 2)
    return results


def save(name: str, result: dict[str, Any]) -> None:
    """Keep a script's result for scaling.py (build/bench/<name>.json), then print it."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result))
    print(json.dumps(result), flush=True)


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def print_table(series: dict[str, dict[str, float]], title: str) -> None:
    """Series as rows, sizes as columns, microseconds per intent."""
    sizes = list(next(iter(series.values())))
    width = max(34, *(len(name) + 2 for name in series))
    print(f"{title} (us per intent, min of rounds)")
    print(f"{'intents per flush':{width}}" + "".join(f"{s:>10}" for s in sizes))
    for name, values in series.items():
        print(f"{name:{width}}" + "".join(f"{values[s]:>10.1f}" for s in sizes))


def meta() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "sizes": SIZES,
        "timing": "min of rounds, wall clock; shared noisy machine",
        "quick": QUICK,
    }


def callgrind_instructions(command: list[str], out: Path) -> int:
    """Instructions ``valgrind --tool=callgrind`` counts for one run of ``command``.

    The command runs once unmeasured first (so it writes its .pyc files), with
    ``PYTHONHASHSEED=0`` both times: the count then repeats run to run on a shared machine.
    """
    import re
    import subprocess

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(command, env=env, check=True)
    valgrind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    subprocess.run([*valgrind, *command], env=env, check=True, capture_output=True)
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))
