"""dramatiq and huey on Redis: per-intent cost of a flush of 1 ... 10,000 intents.

For each queue, three ways to send N tasks to Redis (DB 8, flushed between rounds):
  - its own loop: ``actor.send(i, i)`` (dramatiq) / ``task(i, i)`` (huey) N times;
  - airlock's per-message executor (``dramatiq_executor`` / ``huey_executor``);
  - airlock's batched executor (one Redis transaction per 1,000 messages); for dramatiq also
    with every message built by dramatiq (``stamp_messages = False``).
Airlock figures include enqueue (argument check included) and the flush. Raw-broker floors,
measured in the same run with messages of the same size (a dramatiq message): one ``LPUSH``
round trip per message, and one pipeline of N ``LPUSH``es. Prints one JSON line, then a table.
"""

from __future__ import annotations

import _bench
import dramatiq
from dramatiq.brokers.redis import RedisBroker
from huey import RedisHuey

import airlock
from airlock.integrations.executors.dramatiq import (
    DramatiqBatchExecutor,
    dramatiq_batch_executor,
    dramatiq_executor,
)
from airlock.integrations.executors.huey import huey_batch_executor, huey_executor

broker = RedisBroker(url=_bench.redis_url(), namespace="airlock-bench")
huey = RedisHuey("airlock-bench", url=_bench.redis_url())


@dramatiq.actor(broker=broker, actor_name="bench_add", queue_name="bench")
def actor_add(a: int, b: int) -> int:
    return a + b


@huey.task(name="bench.add")
def huey_add(a: int, b: int) -> int:
    return a + b


class Unstamped(DramatiqBatchExecutor):
    stamp_messages = False  # every message built by dramatiq's own code


def send_loop(n: int) -> None:
    for i in range(n):
        actor_add.send(i, i)


def call_loop(n: int) -> None:
    for i in range(n):
        huey_add(i, i)


PAYLOAD = actor_add.message(0, 0).encode()  # the size of what dramatiq stores per message


def raw_lpush(n: int) -> None:
    client = broker.client
    for _ in range(n):
        client.lpush("airlock-bench:raw", PAYLOAD)


def raw_pipelined(n: int) -> None:
    pipe = broker.client.pipeline(transaction=False)
    for _ in range(n):
        pipe.lpush("airlock-bench:raw", PAYLOAD)
    pipe.execute()


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
            "airlock dramatiq batch, no stamping": through(Unstamped(), actor_add),
            "huey task() loop": call_loop,
            "airlock huey_executor": through(huey_executor, huey_add),
            "airlock huey_batch_executor": through(huey_batch_executor, huey_add),
            "raw Redis LPUSH, round trip each": raw_lpush,
            "raw Redis LPUSH, pipelined": raw_pipelined,
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
    floor = series["raw Redis LPUSH, pipelined"]
    over_floor = {
        name: {size: round(series[name][size] / floor[size], 1) for size in floor}
        for name in ("airlock dramatiq_batch_executor", "airlock huey_batch_executor")
    }
    result = {
        "benchmark": "dramatiq_huey",
        "unit": "us_per_intent",
        "series": series,
        "speedup_batched_vs_loop": speedup,
        "batched_over_pipelined_floor": over_floor,
        **_bench.meta(),
    }
    _bench.save("dramatiq_huey", result)
    _bench.print_table(series, "dramatiq and huey on Redis")
    for queue, values in speedup.items():
        label = f"{queue} batched speedup vs loop"
        print(f"{label:34}" + "".join(f"{v:>9.1f}x" for v in values.values()))
    for name, values in over_floor.items():
        label = name.replace("airlock ", "") + " / floor"
        print(f"{label:34}" + "".join(f"{v:>9.1f}x" for v in values.values()))
    broker.close()
    return result


if __name__ == "__main__":
    main()
