"""Celery on RabbitMQ: per-intent cost of a flush of 1 ... 10,000 intents, against the raw floors.

Three ways to send N tasks to RabbitMQ (queue ``broker_bench``, purged between rounds):
  - ``apply_async loop``: ``task.apply_async((i, i))`` N times (Celery's default: no publisher
    confirms, so a message is not known to have arrived when the call returns);
  - ``airlock celery_executor``: enqueue N intents in a scope, flush one ``apply_async`` each;
  - ``airlock celery_batch_executor``: the same flush on one channel in confirm mode, every
    message published, then one wait for the broker's confirms per 1,000 messages.
And the floors, measured in the same rounds with py-amqp alone, publishing N copies of one real
message (what the batched path sends for this task):
  - ``raw AMQP publish, confirm each``: ``basic.publish`` then wait for its ack, N times;
  - ``raw AMQP publish, confirms per batch``: N ``basic.publish``, then wait for all the acks.
Target (issue 18): batched at least 5x faster per intent than the loop at 1,000. Prints one JSON
line, then a table.
"""

from __future__ import annotations

import time
from typing import Any

import _bench
import amqp
from celery import Celery

import airlock
from airlock.integrations.executors.celery import celery_batch_executor, celery_executor
from tests.services import SERVICES, amqp_url

QUEUE = "broker_bench"
app = Celery("airlock_bench_amqp", broker=amqp_url(), set_as_current=False)
app.conf.update(
    task_ignore_result=True, broker_connection_retry_on_startup=False, task_default_queue=QUEUE
)


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


class Floors:
    """py-amqp alone: one connection, one channel in confirm mode."""

    def __init__(self, message: Any) -> None:
        host, port = SERVICES["rabbitmq"]
        self.connection = amqp.Connection(f"{host}:{port}", userid="guest", password="guest")
        self.connection.connect()
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self.message = message
        self.published = 0
        self.acked = 0
        self.channel.events["basic_ack"].add(self.ack)

    def ack(self, tag: int, multiple: bool = False) -> None:
        self.acked = max(self.acked, tag)

    def wait(self) -> None:
        while self.acked < self.published:
            self.connection.drain_events(timeout=30)

    def confirm_each(self, n: int) -> None:
        publish = self.channel.basic_publish
        for _ in range(n):
            publish(self.message, "", QUEUE)
            self.published += 1
            self.wait()

    def confirm_per_batch(self, n: int) -> None:
        publish = self.channel.basic_publish
        for _ in range(n):
            publish(self.message, "", QUEUE)
        self.published += n
        self.wait()


def purge() -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)


def main() -> dict[str, object]:
    add.apply_async((0, 0))  # connect and declare once, outside the timings
    purge()
    with airlock.scope(executor=celery_batch_executor):
        airlock.enqueue(add, 1, 1)
    with app.connection_for_write() as conn:
        time.sleep(0.2)
        got = conn.default_channel.basic_get(QUEUE, no_ack=True)
    message = amqp.Message(got.body, **got.properties)  # one real message, as batched
    floors = Floors(message)
    series = _bench.measure_series(
        {
            "apply_async loop": apply_async_loop,
            "airlock celery_executor": through(celery_executor),
            "airlock celery_batch_executor": through(celery_batch_executor),
            "raw AMQP publish, confirm each": floors.confirm_each,
            "raw AMQP publish, confirms per batch": floors.confirm_per_batch,
        },
        setup=purge,
    )
    purge()
    loop, batched = series["apply_async loop"], series["airlock celery_batch_executor"]
    speedup = {size: round(loop[size] / batched[size], 1) for size in loop}
    floor = series["raw AMQP publish, confirms per batch"]
    vs_floor = {size: round(batched[size] / floor[size], 2) for size in floor}
    result = {
        "benchmark": "celery_rabbitmq",
        "unit": "us_per_intent",
        "series": series,
        "speedup_batched_vs_loop": speedup,
        "batched_vs_raw_confirms_per_batch": vs_floor,
        "message_bytes": len(got.body),
        "targets": {"speedup_at_1000": 5.0, "met": speedup["1000"] >= 5.0},
        **_bench.meta(),
    }
    _bench.save("celery_rabbitmq", result)
    _bench.print_table(series, "Celery on RabbitMQ")
    print(f"{'batched speedup vs loop':38}" + "".join(f"{v:>9.1f}x" for v in speedup.values()))
    ratios = "".join(f"{v:>9.2f}x" for v in vs_floor.values())
    print(f"{'batched / raw confirms per batch':38}" + ratios)
    verdict = "met" if speedup["1000"] >= 5.0 else "MISSED"
    print(f"target at  1000: batched {speedup['1000']}x faster than the loop (>= 5x): {verdict}")
    return result


if __name__ == "__main__":
    main()
