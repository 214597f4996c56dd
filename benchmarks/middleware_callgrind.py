"""Middleware overhead in instructions: a trivial view with and without AirlockMiddleware.

Counts instructions with ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``) instead of time,
so the figure repeats on a shared, noisy machine (within a few thousand instructions per
request). Each side runs twice in a child process: warm-up requests only, then the warm-up
plus ``REQUESTS`` more through Django's test client; the difference divided by ``REQUESTS`` is
the cost of one request, without start-up. Django is set up by ``_django_bench.configure``
(SQLite in memory, airlock's Django app installed, no other middleware). Target (issue 12):
the middleware adds at most 3 % to the trivial view.

Prints one JSON line, then a short summary; without valgrind on PATH the line says
``"skipped"``. ``AIRLOCK_BENCH_QUICK=1``: 100 requests instead of 1,000.
Run: ``.venv/bin/python benchmarks/middleware_callgrind.py``.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _bench import callgrind_instructions  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
REQUESTS = 100 if QUICK else 1_000
WARMUP = 20
MIDDLEWARE = "airlock.integrations.django.AirlockMiddleware"
TARGET_PCT = 3.0


def child(requests: int, middleware: bool) -> None:
    """Set up Django, send WARMUP + ``requests`` GETs to the trivial view."""
    # benchmarks/django.py would shadow Django: this folder off the path, the repository on it.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
    sys.path.insert(0, str(ROOT))
    from benchmarks._django_bench import configure

    configure([MIDDLEWARE] if middleware else [])
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    get = Client().get
    for _ in range(WARMUP):
        if get("/trivial").status_code != 200:
            raise SystemExit("the trivial view did not answer 200")
    # Collect, then freeze what is alive: otherwise whether a full collection of Django's heap
    # falls inside the counted requests depends on allocation counts, not on the middleware.
    gc.collect()
    gc.freeze()
    for _ in range(requests):
        if get("/trivial").status_code != 200:
            raise SystemExit("the trivial view did not answer 200")


def instructions(requests: int, middleware: bool, out: Path) -> int:
    """Instructions callgrind counts for one child run."""
    command = [sys.executable, __file__, "--child", str(requests)]
    command += ["--middleware"] if middleware else []
    return callgrind_instructions(command, out)


def main() -> None:
    if shutil.which("valgrind") is None:
        print(json.dumps({"benchmark": "middleware_callgrind", "skipped": "valgrind not found"}))
        return
    per_request = {}
    with tempfile.TemporaryDirectory(prefix="airlock-callgrind-") as tmp:
        for middleware in (False, True):
            start = instructions(0, middleware, Path(tmp) / "start.out")
            total = instructions(REQUESTS, middleware, Path(tmp) / "total.out")
            per_request[middleware] = (total - start) / REQUESTS
    without, with_mw = per_request[False], per_request[True]
    overhead = (with_mw - without) / without * 100
    result = {
        "benchmark": "middleware_callgrind",
        "python": sys.version.split()[0],
        "requests": REQUESTS,
        "instructions_per_request": {
            "without": round(without),
            "with_middleware": round(with_mw),
            "added": round(with_mw - without),
        },
        "overhead_pct": round(overhead, 2),
        "target_pct": TARGET_PCT,
    }
    print(json.dumps(result))
    print(
        f"trivial view: {without:,.0f} instructions per request, with AirlockMiddleware "
        f"{with_mw:,.0f} (+{with_mw - without:,.0f}, {overhead:+.2f} %; target {TARGET_PCT} %)"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(int(sys.argv[sys.argv.index("--child") + 1]), "--middleware" in sys.argv)
    else:
        main()
