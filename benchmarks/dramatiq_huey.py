"""dramatiq and huey on Redis: per-intent cost of a flush of 1 ... 10,000 intents.

For each queue, three ways to send N tasks to Redis (DB 8, flushed between rounds):
  - its own loop: ``actor.send(i, i)`` (dramatiq) / ``task(i, i)`` (huey) N times;
  - airlock's per-message executor (``dramatiq_executor`` / ``huey_executor``);
  - airlock's batched executor (one Redis transaction per 1,000 messages).
Airlock figures include enqueue (argument check included) and the flush. Prints one JSON line,
then a table.
"""

from __future__ import annotations

import _bench
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from huey import RedisHuey

import airlock
from airlock.integrations.executors.dramatiq import dramatiq_batch_executor, dramatiq_executor
from airlock.integrations.executors.huey import huey_batch_executor, huey_executor

broker = RedisBroker(url=_bench.redis_url(), namespace="airlock-bench")
huey = RedisHuey("airlock-bench", url=_bench.redis_url())


@dramatiq.actor(broker=broker, actor_name="bench_add", queue_name="bench")
def actor_add(a: int, b: int) -> int:
    return a + b


@huey.task(name="bench.add")
def huey_add(a: int, b: int) -> int:
    return a + b


def send_loop(n: int) -> None:
    for i in range(n):
        actor_add.send(i, i)


def call_loop(n: int) -> None:
    for i in range(n):
        huey_add(i, i)


def through(executor: object, task: object) -> object:
    def run(n: int) -> None:
        enqueue = airlock.enqueue
        with airlock.scope(executor=executor):  # type: ignore[arg-type]
            for i in range(n):
                enqueue(task, i, i)

    return run


def main() -> dict[str, object]:
    client = _bench.redis_client()
    client.flushdb()
    series = _bench.measure_series(
        {
            "dramatiq send() loop": send_loop,
            "airlock dramatiq_executor": through(dramatiq_executor, actor_add),
            "airlock dramatiq_batch_executor": through(dramatiq_batch_executor, actor_add),
            "huey task() loop": call_loop,
            "airlock huey_executor": through(huey_executor, huey_add),
            "airlock huey_batch_executor": through(huey_batch_executor, huey_add),
        },
        setup=client.flushdb,
    )
    client.flushdb()
    speedup = {
        queue: {
            size: round(series[loop][size] / series[batched][size], 1)
            for size in series[loop]
        }
        for queue, loop, batched in [
            ("dramatiq", "dramatiq send() loop", "airlock dramatiq_batch_executor"),
            ("huey", "huey task() loop", "airlock huey_batch_executor"),
        ]
    }
    result = {
        "benchmark": "dramatiq_huey",
        "unit": "us_per_intent",
        "series": series,
        "speedup_batched_vs_loop": speedup,
        **_bench.meta(),
    }
    _bench.save("dramatiq_huey", result)
    _bench.print_table(series, "dramatiq and huey on Redis")
    for queue, values in speedup.items():
        label = f"{queue} batched speedup vs loop"
        print(f"{label:34}" + "".join(f"{v:>9.1f}x" for v in values.values()))
    broker.close()
    return result


if __name__ == "__main__":
    main()
