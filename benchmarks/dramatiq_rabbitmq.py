"""dramatiq on RabbitMQ: per-intent cost of a flush of 1 ... 1,000 intents, with raw floors.

Queues ``matrix_bench`` / ``matrix_bench_confirm`` (purged between rounds, deleted at the end):
  - dramatiq's own loop: ``actor.send(i, i)`` N times, on a default broker (no publisher
    confirms: pika writes and moves on, nothing says the message arrived) and on a broker with
    ``confirm_delivery=True`` (each send waits for its confirm);
  - airlock's batched executor (one channel, confirms awaited once per 1,000 messages), and the
    same with every message built by dramatiq (``stamp_messages = False``);
  - raw pika floors, same message size: a publish loop waiting for each confirm, and a publish
    loop whose confirms are awaited once (what the batched path does, minus dramatiq).
Sizes stop at 1,000 (the confirm-each loop costs milliseconds per message). Prints one JSON line,
then a table.
"""

from __future__ import annotations

import _bench
import dramatiq
import pika
from dramatiq.brokers.rabbitmq import RabbitmqBroker

import airlock
from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor, dramatiq_batch_executor
from tests.services import amqp_url

_bench.SIZES = [s for s in _bench.SIZES if s <= 1000]
QUEUE, CONFIRM_QUEUE = "matrix_bench", "matrix_bench_confirm"

broker = RabbitmqBroker(url=amqp_url())
confirming = RabbitmqBroker(url=amqp_url(), confirm_delivery=True)


@dramatiq.actor(broker=broker, actor_name="bench_add_rabbitmq", queue_name=QUEUE)
def actor_add(a: int, b: int) -> int:
    return a + b


@dramatiq.actor(broker=confirming, actor_name="bench_add_confirm", queue_name=CONFIRM_QUEUE)
def confirmed_add(a: int, b: int) -> int:
    return a + b


PAYLOAD = actor_add.message(0, 0).encode()
PROPERTIES = pika.BasicProperties(delivery_mode=2)


def send_loop(n: int) -> None:
    for i in range(n):
        actor_add.send(i, i)


def confirmed_send_loop(n: int) -> None:
    for i in range(n):
        confirmed_add.send(i, i)


class Unstamped(DramatiqBatchExecutor):
    stamp_messages = False  # every message built by dramatiq's own code


unstamped = Unstamped()


def batched(n: int, executor: DramatiqBatchExecutor = dramatiq_batch_executor) -> None:
    enqueue = airlock.enqueue
    with airlock.scope(executor=executor):
        for i in range(n):
            enqueue(actor_add, i, i)


def batched_unstamped(n: int) -> None:
    batched(n, unstamped)


class Raw:
    """A pika channel in confirm mode: confirms awaited per message, or once per flush."""

    def __init__(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(amqp_url()))
        self.each = self.connection.channel()
        self.each.confirm_delivery()
        self.once = self.connection.channel()
        self.published = self.confirmed = 0  # delivery tags: published, highest confirmed
        self.once._impl.confirm_delivery(ack_nack_callback=self._confirmed, callback=None)

    def _confirmed(self, frame: object) -> None:
        self.confirmed = max(self.confirmed, frame.method.delivery_tag)  # type: ignore[attr-defined]

    def confirm_each(self, n: int) -> None:
        for _ in range(n):
            self.each.basic_publish("", QUEUE, PAYLOAD, PROPERTIES)

    def confirm_once(self, n: int) -> None:
        impl = self.once._impl
        for _ in range(n):
            impl.basic_publish("", QUEUE, PAYLOAD, PROPERTIES)
        self.published += n
        self.once._flush_output(lambda: self.confirmed >= self.published)


def main() -> dict[str, object]:
    for b, queue in ((broker, QUEUE), (confirming, CONFIRM_QUEUE)):
        b.declare_queue(queue, ensure=True)
    raw = Raw()
    channel = raw.connection.channel()

    def purge() -> None:
        for queue in (QUEUE, f"{QUEUE}.DQ", CONFIRM_QUEUE):
            channel.queue_purge(queue)

    series = _bench.measure_series(
        {
            "dramatiq send(), no confirms": send_loop,
            "dramatiq send(), confirm_delivery": confirmed_send_loop,
            "airlock batched (RabbitMQ)": batched,
            "airlock batched, no stamping": batched_unstamped,
            "raw pika, confirm each": raw.confirm_each,
            "raw pika, confirms once": raw.confirm_once,
        },
        setup=purge,
    )
    for queue in (QUEUE, CONFIRM_QUEUE):
        for suffix in ("", ".DQ", ".XQ"):
            channel.queue_delete(queue + suffix)
    raw.connection.close()
    batch = series["airlock batched (RabbitMQ)"]
    ratios = {
        f"{name.removeprefix('dramatiq ')} / batched": {
            s: round(series[name][s] / batch[s], 1) for s in batch
        }
        for name in ("dramatiq send(), no confirms", "dramatiq send(), confirm_delivery")
    }
    ratios["batched / floor (confirms once)"] = {
        s: round(batch[s] / series["raw pika, confirms once"][s], 1) for s in batch
    }
    result = {
        "benchmark": "dramatiq_rabbitmq",
        "unit": "us_per_intent",
        "series": series,
        "ratios": ratios,
        **_bench.meta(),
        "sizes": _bench.SIZES,
    }
    _bench.save("dramatiq_rabbitmq", result)
    _bench.print_table(series, "dramatiq on RabbitMQ")
    for label, values in ratios.items():
        print(f"{label:34}" + "".join(f"{v:>9.1f}x" for v in values.values()))
    broker.close()
    confirming.close()
    return result


if __name__ == "__main__":
    main()
