"""The core's targets in instructions (callgrind), side by side with airlock-py and raw on_commit.

Wall-clock ratios of a few percent move between runs on a shared machine; instruction counts do
not. Each figure is counted by ``valgrind --tool=callgrind`` with ``PYTHONHASHSEED=0`` on two
child runs, N and 2N iterations; the difference divided by N is the cost of one iteration
without start-up. airlock-py 0.1.0a3 runs in a throwaway venv (see ``vs_airlock_py.py``).

Figures (issue 12's targets): enqueue + flush with the default ``sync_executor`` per intent at
1, 10 and 100 intents per scope against airlock-py (target 0.5x); an empty
``with airlock.scope(): pass`` against a bare ``ContextVar`` set + reset (3x); ``DjangoScope``
with ``sync_executor`` per intent inside ``atomic()`` against raw
``transaction.on_commit(functools.partial(task, i))`` at 1, 10 and 100 per transaction (1.5x).
The middleware's figure is ``middleware_callgrind.py``'s.

Prints one JSON line, then a table. ``AIRLOCK_BENCH_QUICK=1``: fewer iterations.
Run: ``.venv/bin/python benchmarks/core_callgrind.py`` (needs valgrind; about 2 minutes).
"""

from __future__ import annotations

import os
import sys


def task(i: object) -> None:
    """The task every side runs: a no-op taking one argument."""


def _settle_heap() -> None:
    """Collect, then freeze what is alive: a full collection walking Django's whole heap costs
    tens of millions of instructions, and whether one falls inside the measured loop depends
    on allocation counts, not on the code measured (it moved a figure by 30 %)."""
    import gc

    gc.collect()
    gc.freeze()


def child(mode: str, n: int) -> None:
    """Run ``n`` iterations of ``mode`` (imports only what the mode needs)."""
    import contextvars

    if mode == "contextvar":
        var: contextvars.ContextVar[int] = contextvars.ContextVar("v")
        for _ in range(n):
            token = var.set(1)
            var.reset(token)
        return
    if mode == "floor":
        # The least any pure-Python scope() can cost: a function with scope()'s signature
        # (SPEC 2.1: its ``**scope_kwargs`` alone builds a dict per call) returning an object
        # whose __enter__ sets a ContextVar and whose __exit__ resets it. No state, no checks.
        class Bare:
            __slots__ = ("_token",)

            def __enter__(self) -> Bare:
                self._token = var.set(self)  # type: ignore[arg-type]
                return self

            def __exit__(self, *exc: object) -> None:
                var.reset(self._token)  # type: ignore[arg-type]

        def scope(policy=None, *, executor=None, _cls=None, **scope_kwargs):  # type: ignore[no-untyped-def]
            return new(Bare)

        new = object.__new__
        var = contextvars.ContextVar("v")
        for _ in range(n):
            with scope():
                pass
        return
    if mode.startswith("django_"):
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
        sys.path.insert(0, os.path.dirname(here))  # the repository, for benchmarks._django_bench
        from benchmarks import _django_bench

        _django_bench.configure()
        _settle_heap()
        kind, per = mode.split("_")[1], int(mode.split("_")[2])
        if kind == "raw":
            _django_bench.raw_on_commit(per, n // per)
        else:
            import airlock

            _django_bench.scope_around(per, n // per, airlock.scope)
        return
    import airlock  # ours, or airlock-py in its venv

    _settle_heap()
    if mode == "empty":
        for _ in range(n):
            with airlock.scope():
                pass
        return
    per, enqueue = int(mode.split("_")[1]), airlock.enqueue  # "sync_10"
    for _ in range(n // per):
        with airlock.scope():
            for i in range(per):
                enqueue(task, i)


def main() -> None:
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from _bench import QUICK, callgrind_instructions
    from vs_airlock_py import airlock_py_python

    if shutil.which("valgrind") is None:
        print(json.dumps({"benchmark": "core_callgrind", "skipped": "valgrind not found"}))
        return
    n = 1_000 if QUICK else 2_000

    def per_iteration(python: str, mode: str, tmp: Path) -> float:
        # -I for airlock-py: a PYTHONPATH naming this repository must not reach its venv.
        isolated = [] if python == sys.executable else ["-I"]
        command = [python, *isolated, __file__, "--child", mode]
        once = callgrind_instructions([*command, str(n)], tmp / "a.out")
        twice = callgrind_instructions([*command, str(2 * n)], tmp / "b.out")
        return (twice - once) / n

    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="airlock-cg-") as name, airlock_py_python() as theirs:
        tmp, ours = Path(name), sys.executable

        def row(label: str, mode: str, base_python: str, base_mode: str, target: float) -> None:
            mine, base = per_iteration(ours, mode, tmp), per_iteration(base_python, base_mode, tmp)
            rows[label] = {
                "airlock": round(mine),
                "baseline": round(base),
                "ratio": round(mine / base, 2),
                "target": target,
            }

        for per in (1, 10, 100):
            row(f"sync_{per}_per_scope", f"sync_{per}", theirs, f"sync_{per}", 0.5)
        row("empty_scope", "empty", ours, "contextvar", 3.0)
        row("empty_scope_floor", "floor", ours, "contextvar", 3.0)
        for per in (1, 10, 100):
            row(f"django_{per}_per_transaction", f"django_scope_{per}", ours,
                f"django_raw_{per}", 1.5)
    result = {
        "benchmark": "core_callgrind",
        "python": sys.version.split()[0],
        "iterations": n,
        "unit": "instructions per intent (per scope for empty_scope)",
        "baselines": {
            "sync": "airlock-py 0.1.0a3, default executor",
            "empty_scope": "ContextVar set + reset",
            "empty_scope_floor": "ContextVar set + reset; the 'airlock' side is a do-nothing "
            "context manager made by a function with scope()'s signature",
            "django": "transaction.on_commit(functools.partial(task, i)) in atomic()",
        },
        "figures": rows,
    }
    print(json.dumps(result))
    print(f"{'figure':32} {'airlock':>9} {'baseline':>9} {'ratio':>6} {'target':>6}")
    for label, figures in rows.items():
        print(
            f"{label:32} {figures['airlock']:>9,} {figures['baseline']:>9,} "
            f"{figures['ratio']:>6} {figures['target']:>6}"
        )


if __name__ == "__main__":
    if "--child" in sys.argv:
        at = sys.argv.index("--child")
        child(sys.argv[at + 1], int(sys.argv[at + 2]))
    else:
        main()
