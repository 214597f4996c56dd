"""Side by side: airlock against airlock-py 0.1.0a3, a bare ContextVar and raw Django on_commit.

airlock-py (an older, different package on PyPI) also imports as ``airlock``, so each side runs
in its own long-lived child process, driven over a pipe: the parent asks "run one round of X"
and the child answers with CPU seconds per unit (``time.thread_time`` of its only thread; the
machine is shared). Rounds are interleaved (ours, theirs, ours, ... with the order swapped
every round) and each figure is the minimum over rounds; the ratio of the medians is printed
too. airlock-py is installed from the package index into a throwaway venv (a temporary
directory) by this script. Only public API is used on our side, so the script keeps working
whatever the core looks like inside. Figures and targets (issue 12):

1. enqueue + flush with the default executor (ours: ``airlock.scope()`` on the default
   configuration, i.e. ``sync_executor``; theirs: its default), at 1, 10 and 100 intents per
   scope, time per intent: ours <= 0.5x airlock-py's.
2. an empty ``with airlock.scope(): pass`` against ``tok = var.set(x); var.reset(tok)`` in the
   same process: <= 3x.
3. ``DjangoScope`` with ``sync_executor`` (Django in-process, SQLite in memory) against raw
   ``transaction.on_commit(partial(task, i))``, per intent inside ``atomic()``, at 1, 10 and 100
   intents per transaction, one scope around 200 transactions: <= 1.5x.
4. bytes held per buffered intent (tracemalloc): <= 300.

Prints one JSON line, then a short table. ``AIRLOCK_BENCH_QUICK=1``: fewer rounds, less work
per round (a smoke run). Exit status 3 when airlock-py cannot be installed (no package index).
Run: ``.venv/bin/python benchmarks/vs_airlock_py.py``.

This file is also the child: ``--worker`` runs under either interpreter with ``-I``, so its
module level imports nothing but the standard library.
"""

from __future__ import annotations

import gc
import importlib.metadata
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

AIRLOCK_PY = "airlock-py==0.1.0a3"
ROOT = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
ROUNDS = 3 if QUICK else 21
SIZES = (1, 10, 100)
INTENTS = 200 if QUICK else 3_000  # per round of enqueue + flush
SCOPES = 1_000 if QUICK else 20_000  # per round of empty scopes (and of ContextVar pairs)
TRANSACTIONS = 20 if QUICK else 200  # per round of the Django figure
MEMORY_INTENTS = 1_000 if QUICK else 10_000
TARGETS = {
    "enqueue_flush_ratio": 0.5,
    "empty_scope_ratio": 3.0,
    "django_ratio": 1.5,
    "bytes_per_intent": 300,
}
clock = time.thread_time


# -- the child: one round of one figure per request ---------------------------------------------
def task(x: object) -> None:
    """The task: a no-op taking one argument."""


def enqueue_flush(n: int) -> float:
    """Scopes of ``n`` intents on the default configuration; seconds per intent."""
    import airlock

    scope, enqueue = airlock.scope, airlock.enqueue
    reps = max(1, INTENTS // n)
    start = clock()
    for _ in range(reps):
        with scope():
            for i in range(n):
                enqueue(task, i)
    return (clock() - start) / (reps * n)


def empty_scope(n: int) -> float:
    """``with airlock.scope(): pass``; seconds per scope."""
    import airlock

    scope = airlock.scope
    start = clock()
    for _ in range(SCOPES):
        with scope():
            pass
    return (clock() - start) / SCOPES


_var: ContextVar[object] = ContextVar("_var", default=None)


def contextvar(n: int) -> float:
    """The floor: ``tok = var.set(x); var.reset(tok)``; seconds per pair."""
    set_, reset, x = _var.set, _var.reset, object()
    start = clock()
    for _ in range(SCOPES):
        tok = set_(x)
        reset(tok)
    return (clock() - start) / SCOPES


def bytes_per_intent(n: int) -> float:
    """Bytes the buffer holds per intent, ``enqueue(task, i)`` with a fresh int each time."""
    import tracemalloc

    import airlock

    enqueue = airlock.enqueue
    with airlock.scope(executor=lambda intent: None):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for i in range(MEMORY_INTENTS):
            enqueue(task, i + 1000)  # past the small-int cache: a real int per intent
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / MEMORY_INTENTS


def django_raw(n: int) -> float:
    from benchmarks._django_bench import raw_on_commit

    return raw_on_commit(n, TRANSACTIONS) / (TRANSACTIONS * n)


def django_scope(n: int) -> float:
    import airlock
    from benchmarks._django_bench import scope_around

    return scope_around(n, TRANSACTIONS, airlock.scope) / (TRANSACTIONS * n)


def django_scope_each(n: int) -> float:
    import airlock
    from benchmarks._django_bench import scope_per_transaction

    return scope_per_transaction(n, TRANSACTIONS, airlock.scope) / (TRANSACTIONS * n)


OPS: dict[str, Callable[[int], float]] = {
    f.__name__: f
    for f in [
        enqueue_flush,
        empty_scope,
        contextvar,
        bytes_per_intent,
        django_raw,
        django_scope,
        django_scope_each,
    ]
}


def describe() -> dict[str, Any]:
    """Which ``airlock`` this child imported, and (Django child) which scope class it gets."""
    import airlock

    info: dict[str, Any] = {"file": airlock.__file__}
    try:
        info["version"] = importlib.metadata.version("airlock-py")
    except importlib.metadata.PackageNotFoundError:
        info["version"] = airlock.__version__
    if "django" in sys.modules:
        import django

        with airlock.scope() as scope:
            info["scope"] = type(scope).__name__
        info["django"] = django.get_version()
    return info


def worker(argv: list[str]) -> None:
    """Answer ``{"op": name, "n": int}`` lines on stdin with one JSON number each, cyclic GC off
    while a round runs. ``--root DIR`` puts our tree first on the path; ``--django`` sets up
    Django (``_django_bench.configure``: SQLite in memory, airlock's Django app installed)."""
    if "--root" in argv:
        sys.path.insert(0, argv[argv.index("--root") + 1])
    if "--django" in argv:
        from benchmarks._django_bench import configure

        configure()
    print(json.dumps(describe()), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        gc.collect()
        gc.disable()
        try:
            value = OPS[request["op"]](request["n"])
        finally:
            gc.enable()
        print(json.dumps(value), flush=True)


# -- the parent ---------------------------------------------------------------------------------
class Child:
    """A worker process of ``python`` (``-I``: no script folder, no PYTHONPATH on its path)."""

    def __init__(self, python: str, *args: str) -> None:
        command = [python, "-I", __file__, "--worker", *args]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info: dict[str, Any] = json.loads(self._read())

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark child {self.proc.args} died (exit {self.proc.wait()})")
        return line

    def run(self, op: str, n: int = 0) -> float:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "n": n}) + "\n")
        self.proc.stdin.flush()
        return float(json.loads(self._read()))

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@contextmanager
def airlock_py_python() -> Iterator[str]:
    """A throwaway venv with airlock-py installed from the package index; yields its python."""
    with tempfile.TemporaryDirectory(prefix="airlock-py-") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = str(venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python"))
        pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
        installed = subprocess.run(
            [*pip, "--disable-pip-version-check", "--no-input", AIRLOCK_PY],
            capture_output=True,
            text=True,
        )
        if installed.returncode != 0:
            sys.stderr.write(installed.stdout + installed.stderr)
            print(f"cannot install {AIRLOCK_PY} from the package index", file=sys.stderr)
            sys.exit(3)
        yield python


Plan = list[tuple[Child, str, int]]


def measure(plan: Plan) -> dict[tuple[int, str, int], list[float]]:
    """Every (child, op, n) of the plan once as a warm-up, then ROUNDS interleaved rounds, the
    order reversed every other round so neither side always runs first."""
    for child, op, n in plan:
        child.run(op, n)
    times: dict[tuple[int, str, int], list[float]] = {}
    for k in range(ROUNDS):
        for child, op, n in plan if k % 2 == 0 else reversed(plan):
            times.setdefault((id(child), op, n), []).append(child.run(op, n))
    return times


def compare(ours: list[float], base: list[float]) -> dict[str, float]:
    """Min of each side in microseconds, the ratio of the mins and the ratio of the medians."""
    return {
        "airlock_us": round(min(ours) * 1e6, 3),
        "baseline_us": round(min(base) * 1e6, 3),
        "ratio": round(min(ours) / min(base), 2),
        "ratio_median": round(statistics.median(ours) / statistics.median(base), 2),
    }


def main() -> None:
    import _bench

    with airlock_py_python() as theirs_python:
        ours = Child(sys.executable, "--root", str(ROOT))
        theirs = Child(theirs_python)
        dj = Child(sys.executable, "--root", str(ROOT), "--django")
        try:
            assert Path(ours.info["file"]).is_relative_to(ROOT), ours.info
            assert not Path(theirs.info["file"]).is_relative_to(ROOT), theirs.info
            assert dj.info["scope"] == "DjangoScope", dj.info
            plan: Plan = []
            for n in SIZES:
                plan += [(ours, "enqueue_flush", n), (theirs, "enqueue_flush", n)]
            for child in (ours, theirs):
                plan += [(child, "empty_scope", 0), (child, "contextvar", 0)]
            for n in SIZES:
                plan += [(dj, "django_raw", n), (dj, "django_scope", n)]
                plan += [(dj, "django_scope_each", n)]
            times = measure(plan)
            memory = {
                "airlock": ours.run("bytes_per_intent"),
                "airlock_py": theirs.run("bytes_per_intent"),
            }
        finally:
            for child in (ours, theirs, dj):
                child.close()

    def t(child: Child, op: str, n: int = 0) -> list[float]:
        return times[(id(child), op, n)]

    enqueue = {
        str(n): compare(t(ours, "enqueue_flush", n), t(theirs, "enqueue_flush", n)) for n in SIZES
    }
    empty = compare(t(ours, "empty_scope"), t(ours, "contextvar"))
    empty_theirs = compare(t(theirs, "empty_scope"), t(theirs, "contextvar"))
    django = {}
    for n in SIZES:
        django[str(n)] = compare(t(dj, "django_scope", n), t(dj, "django_raw", n))
        each = compare(t(dj, "django_scope_each", n), t(dj, "django_raw", n))
        django[str(n)]["scope_per_transaction_us"] = each["airlock_us"]
        django[str(n)]["ratio_scope_per_transaction"] = each["ratio"]
    result = {
        "benchmark": "vs_airlock_py",
        "python": sys.version.split()[0],
        "airlock_py": theirs.info["version"],
        "django": dj.info["django"],
        "rounds": ROUNDS,
        "quick": QUICK,
        "timing": "CPU time of the child's thread, min of interleaved rounds; shared machine",
        "enqueue_flush_per_intent": {
            "baseline": "airlock-py default executor",
            "sizes": enqueue,
            "target": TARGETS["enqueue_flush_ratio"],
        },
        "empty_scope": {
            "baseline": "ContextVar set + reset",
            **empty,
            "airlock_py_us": empty_theirs["airlock_us"],
            "airlock_py_ratio": empty_theirs["ratio"],
            "target": TARGETS["empty_scope_ratio"],
        },
        "django_per_intent": {
            "baseline": "raw transaction.on_commit(partial(task, i)) in atomic()",
            "transactions_per_scope": TRANSACTIONS,
            "sizes": django,
            "target": TARGETS["django_ratio"],
        },
        "bytes_per_intent": {
            "airlock": round(memory["airlock"], 1),
            "airlock_py": round(memory["airlock_py"], 1),
            "ratio": round(memory["airlock"] / memory["airlock_py"], 2),
            "target": TARGETS["bytes_per_intent"],
        },
    }
    _bench.save("vs_airlock_py", result)
    print_table(result)


def print_table(result: dict[str, Any]) -> None:
    head = f"{'airlock':>10}{'baseline':>10}{'ratio':>7}{'median':>8}{'target':>8}"
    print(f"{'figure (us per intent or per scope)':44}{head}")
    rows: list[tuple[str, dict[str, float], float]] = []
    for n, row in result["enqueue_flush_per_intent"]["sizes"].items():
        rows.append(
            (f"enqueue+flush, {n}/scope vs airlock-py", row, TARGETS["enqueue_flush_ratio"])
        )
    rows.append(
        ("empty scope vs ContextVar set+reset", result["empty_scope"], TARGETS["empty_scope_ratio"])
    )
    for n, row in result["django_per_intent"]["sizes"].items():
        rows.append((f"DjangoScope, {n}/tx vs raw on_commit", row, TARGETS["django_ratio"]))
    for label, row, target in rows:
        print(
            f"{label:44}{row['airlock_us']:>10.3f}{row['baseline_us']:>10.3f}"
            f"{row['ratio']:>7.2f}{row['ratio_median']:>8.2f}{target:>8}"
        )
    memory = result["bytes_per_intent"]
    print(
        f"bytes per buffered intent: airlock {memory['airlock']:.0f}, airlock-py "
        f"{memory['airlock_py']:.0f} (target {memory['target']})"
    )


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker(sys.argv)
    else:
        main()
