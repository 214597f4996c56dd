"""Core cost: enqueue + flush per intent vs the raw functools.partial floor, and bytes per intent.

Prints one JSON line, then a short table. Targets (issue 2): <= 2.0 us per intent,
<= 1.6 x the floor, <= 300 bytes per buffered intent.
"""

from __future__ import annotations

import functools
import gc
import json
import sys
import time
import tracemalloc

import airlock

N = 10_000
ROUNDS = 30


def noop(*args: object, **kwargs: object) -> None:
    pass


def noop_executor(intent: object) -> None:
    pass


def floor_once() -> float:
    start = time.perf_counter()
    pending = []
    for i in range(N):
        pending.append(functools.partial(noop, i))
    for call in pending:
        call()
    return time.perf_counter() - start


def airlock_once() -> float:
    enqueue = airlock.enqueue
    start = time.perf_counter()
    with airlock.scope(executor=noop_executor):
        for i in range(N):
            enqueue(noop, i)
    return time.perf_counter() - start


def best(fn: object) -> float:
    gc.collect()
    return min(fn() for _ in range(ROUNDS)) / N * 1e6  # type: ignore[operator]


def bytes_per_intent() -> float:
    scope = airlock.scope(executor=noop_executor).enter()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for i in range(N):
        airlock.enqueue(noop, i + 1000)  # past the small-int cache: a real int per intent
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    scope.exit()
    scope.discard()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return grown / N


def main() -> None:
    floor = best(floor_once)
    ours = best(airlock_once)
    memory = bytes_per_intent()
    result = {
        "benchmark": "core",
        "python": sys.version.split()[0],
        "intents": N,
        "airlock_us_per_intent": round(ours, 3),
        "floor_us_per_intent": round(floor, 3),
        "ratio_to_floor": round(ours / floor, 2),
        "bytes_per_intent": round(memory, 1),
        "targets": {"us_per_intent": 2.0, "ratio_to_floor": 1.6, "bytes_per_intent": 300},
    }
    print(json.dumps(result))
    print(f"{'':28}{'us/intent':>10}")
    print(f"{'airlock enqueue+flush':28}{ours:>10.3f}")
    print(f"{'list.append(partial)+call':28}{floor:>10.3f}")
    print(f"ratio {ours / floor:.2f}x floor, {memory:.0f} bytes per buffered intent")


if __name__ == "__main__":
    main()
