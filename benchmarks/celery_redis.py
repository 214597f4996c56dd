"""Celery on Redis: per-intent cost of a flush of 1 ... 10,000 intents, batched and not.

Three ways to send N tasks to a Redis broker (DB 8, flushed between rounds):
  - ``apply_async loop``: what code without airlock does, ``task.apply_async((i, i))`` N times;
  - ``airlock celery_executor``: enqueue N intents in a scope, flush one message at a time;
  - ``airlock celery_batch_executor``: the same flush, one Redis transaction per 1,000 messages.
Each airlock figure includes enqueue (argument check included) and the flush. Prints one JSON
line, then a table. Target (issue 8): batched >= 5x faster per intent than the loop at 1,000.
"""

from __future__ import annotations

import _bench
from celery import Celery

import airlock
from airlock.integrations.executors.celery import celery_batch_executor, celery_executor

app = Celery("airlock_bench", broker=_bench.redis_url(), set_as_current=False)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=False)


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


def main() -> dict[str, object]:
    client = _bench.redis_client()
    client.flushdb()
    add.apply_async((0, 0))  # connect and declare once, outside the timings
    series = _bench.measure_series(
        {
            "apply_async loop": apply_async_loop,
            "airlock celery_executor": through(celery_executor),
            "airlock celery_batch_executor": through(celery_batch_executor),
        },
        setup=client.flushdb,
    )
    client.flushdb()
    loop, batched = series["apply_async loop"], series["airlock celery_batch_executor"]
    speedup = {size: round(loop[size] / batched[size], 1) for size in loop}
    result = {
        "benchmark": "celery_redis",
        "unit": "us_per_intent",
        "series": series,
        "speedup_batched_vs_loop": speedup,
        "target": {"speedup_at_1000": 5.0},
        **_bench.meta(),
    }
    _bench.save("celery_redis", result)
    _bench.print_table(series, "Celery on Redis")
    print(f"{'batched speedup vs loop':34}" + "".join(f"{v:>9.1f}x" for v in speedup.values()))
    return result


if __name__ == "__main__":
    main()
