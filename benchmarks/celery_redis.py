"""Celery on Redis: per-intent cost of a flush of 1 ... 10,000 intents, against the raw floors.

Three ways to send N tasks to a Redis broker (DB 8, flushed between rounds):
  - ``apply_async loop``: what code without airlock does, ``task.apply_async((i, i))`` N times;
  - ``airlock celery_executor``: enqueue N intents in a scope, flush one message at a time;
  - ``airlock celery_batch_executor``: the same flush, one Redis transaction per 1,000 messages.
And the floors, measured in the same rounds with redis-py alone, pushing N copies of one real
message (the bytes the batched path pushes for this task):
  - ``raw LPUSH round trip``: one ``LPUSH`` per message, each waiting for its reply;
  - ``raw pipelined LPUSH``: the N ``LPUSH`` in one pipeline (no transaction), one round trip.
Each airlock figure includes enqueue (argument check included) and the flush. Flushes of 1 and
10 are timed 20 back to back per round, like the floors (``_bench.repeats_for``). Targets (issue
18): a flush of 1 to 10 costs at most 3 raw round trips (a lone ``LPUSH`` timed the same way;
"strict": the lowest per-``LPUSH`` figure of the run) plus 2x the pipelined per-message figure
at 1,000; at 1,000 and 10,000 at most 2.5x the pipelined figure per message. Prints one JSON
line, then a table.
"""

from __future__ import annotations

import _bench
from celery import Celery

import airlock
from airlock.integrations.executors.celery import celery_batch_executor, celery_executor

app = Celery("airlock_bench", broker=_bench.redis_url(), set_as_current=False)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=False)
FLOOR_KEY = "bench_floor"


@app.task(name="bench.add", shared=False)
def add(a: int, b: int) -> int:
    return a + b


def apply_async_loop(n: int) -> None:
    for i in range(n):
        add.apply_async((i, i))


def through(executor: object) -> object:
    def run(n: int) -> None:
        enqueue = airlock.enqueue
        with airlock.scope(executor=executor):  # type: ignore[arg-type]
            for i in range(n):
                enqueue(add, i, i)

    return run


def floors(client: object, message: bytes) -> dict[str, object]:
    def round_trips(n: int) -> None:
        lpush = client.lpush  # type: ignore[attr-defined]
        for _ in range(n):
            lpush(FLOOR_KEY, message)

    def pipelined(n: int) -> None:
        pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
        for _ in range(n):
            pipe.lpush(FLOOR_KEY, message)
        pipe.execute()

    return {"raw LPUSH round trip": round_trips, "raw pipelined LPUSH": pipelined}


def targets(series: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each size's ceiling (us per intent) and the batched path's figure against it."""
    # The round trip: a lone LPUSH timed as a flush of one is (20 back to back per round);
    # "strict" takes instead the cheapest per-LPUSH figure at any size (10,000 in a row).
    rounds = series["raw LPUSH round trip"]
    rtt, lowest = rounds["1"], min(rounds.values())
    piped = series["raw pipelined LPUSH"]
    per_message = piped["1000"]
    out: dict[str, dict[str, float]] = {}
    for size, value in series["airlock celery_batch_executor"].items():
        n = int(size)
        if n <= 10:
            ceiling = (3 * rtt + 2 * n * per_message) / n
            strict = (3 * lowest + 2 * n * per_message) / n
        elif n >= 1000:
            ceiling = strict = 2.5 * piped[size]
        else:
            continue
        out[size] = {
            "ceiling": round(ceiling, 2),
            "ceiling_strict": round(strict, 2),
            "batched": value,
            "met": value <= ceiling,
            "met_strict": value <= strict,
        }
    return out


def main() -> dict[str, object]:
    client = _bench.redis_client()
    client.flushdb()
    add.apply_async((0, 0))  # connect and declare once, outside the timings
    with airlock.scope(executor=celery_batch_executor):
        airlock.enqueue(add, 1, 1)
    message = client.lindex("celery", 0)  # one real message, as the batched path pushed it
    series = _bench.measure_series(
        {
            "apply_async loop": apply_async_loop,
            "airlock celery_executor": through(celery_executor),
            "airlock celery_batch_executor": through(celery_batch_executor),
            **floors(client, message),
        },
        setup=client.flushdb,
    )
    client.flushdb()
    loop, batched = series["apply_async loop"], series["airlock celery_batch_executor"]
    speedup = {size: round(loop[size] / batched[size], 1) for size in loop}
    goals = targets(series)
    result = {
        "benchmark": "celery_redis",
        "unit": "us_per_intent",
        "series": series,
        "speedup_batched_vs_loop": speedup,
        "message_bytes": len(message),
        "targets": goals,
        **_bench.meta(),
    }
    _bench.save("celery_redis", result)
    _bench.print_table(series, "Celery on Redis")
    print(f"{'batched speedup vs loop':34}" + "".join(f"{v:>9.1f}x" for v in speedup.values()))
    for size, goal in goals.items():
        verdict = "met" if goal["met"] else "MISSED"
        strict = "met" if goal["met_strict"] else "MISSED"
        print(
            f"target at {size:>5}: batched {goal['batched']:.1f} us/intent, "
            f"ceiling {goal['ceiling']:.1f} (from the raw floors of this run): {verdict}; "
            f"strict ceiling {goal['ceiling_strict']:.1f}: {strict}"
        )
    return result


if __name__ == "__main__":
    main()
