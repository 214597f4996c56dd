"""Outbox cost: rows per second relayed to Celery on Redis (1 and 4 relays, and 1 relay with
the batched Celery executor), and the extra cost of a durable intent over the in-memory path.

Prints one JSON line, then a short table. Needs PostgreSQL (a scratch database
``airlock_bench_outbox`` is created and dropped) and Redis (DB 6, the outbox's own, flushed).
Relays run as separate processes (``python benchmarks/outbox.py relay``) and time their own
drain after a common start signal, so Django and Celery start-up is not counted.
Set ``AIRLOCK_BENCH_QUICK=1`` for a smoke run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
ROWS = 2_000 if QUICK else 10_000
ENQUEUES = 500 if QUICK else 2_000
ROUNDS = 3 if QUICK else 7
DB_NAME = "airlock_bench_outbox"
REDIS_DB = 6
QUEUE = "airlock_outbox_bench"
EXECUTORS = "airlock.integrations.executors.celery."
RUNS = [  # (name, relay processes, executor the relays send with)
    ("1_relay", 1, EXECUTORS + "celery_executor"),
    ("4_relays", 4, EXECUTORS + "celery_executor"),  # SKIP LOCKED: each takes its own rows
    ("1_relay_batched", 1, EXECUTORS + "celery_batch_executor"),
]


def setup_django() -> None:
    import django
    from django.conf import settings

    from tests.services import PG_USER, SERVICES, redis_url

    host, port = SERVICES["postgres"]
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "NAME": DB_NAME,
                "USER": PG_USER,
                "HOST": host,
                "PORT": port,
            }
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "airlock.integrations.django",
            "airlock.integrations.django.outbox",
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        AIRLOCK={
            "EXECUTOR": "airlock.integrations.executors.celery.celery_executor",
            "OUTBOX": {"GRACE": 0, "BATCH_SIZE": 200},
        },
    )
    os.environ.setdefault("AIRLOCK_OUTBOX_BENCH_BROKER", redis_url(REDIS_DB))
    django.setup()


def celery_task() -> Any:
    from celery import Celery

    from airlock.integrations.django import outbox

    app = Celery("airlock_outbox_bench", broker=os.environ["AIRLOCK_OUTBOX_BENCH_BROKER"])
    app.conf.update(task_default_queue=QUEUE, task_ignore_result=True)

    @outbox.register(name="outbox_bench.ship")
    @app.task(name="outbox_bench.ship")
    def ship(order_id: int) -> None:  # never runs: no worker, the broker queue is counted
        pass

    return ship


# -- relay processes -------------------------------------------------------------------------
def relay_process() -> None:
    """Child: get ready, wait for "go" on stdin, drain, print start/end/sent as JSON."""
    setup_django()
    celery_task()
    from airlock._config import import_string
    from airlock.integrations.django.outbox.relay import Relay

    relay = Relay(executor=import_string(sys.argv[2]))
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    relay.drain()
    end = time.time()
    print(json.dumps({"start": start, "end": end, "sent": relay.counts.sent}), flush=True)


def relay_rate(relays: int, executor: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "relay", executor],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(relays)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        reports = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    sent = sum(r["sent"] for r in reports)
    assert sent == ROWS, f"relays sent {sent} of {ROWS}"
    return sent / (max(r["end"] for r in reports) - min(r["start"] for r in reports))


def fill(task: Any) -> None:
    from airlock import Intent
    from airlock.integrations.django.outbox import recorder, registry
    from airlock.integrations.django.outbox.models import OutboxMessage

    OutboxMessage.objects.all().delete()
    reference = registry.reference_for(task)
    rows = []
    for n in range(ROWS):
        intent = Intent(task=task, args=(n,), dispatch_options={"durable": True})
        rows.append(
            OutboxMessage(message_id=intent.id, task=reference, payload=recorder.encode(intent))
        )
    OutboxMessage.objects.bulk_create(rows, batch_size=2000)


# -- enqueue cost ----------------------------------------------------------------------------
def enqueue_us(task: Any, options: dict[str, Any] | None) -> tuple[float, float]:
    """Best of ROUNDS: (us per intent for enqueue inside atomic, us for the whole unit of work
    including commit, dispatch to a no-op executor and marking the row sent)."""
    from django.db import transaction

    import airlock
    from airlock.integrations.django.outbox.models import OutboxMessage

    def noop(intent: object) -> None:
        pass

    best_enqueue = best_total = float("inf")
    for _ in range(ROUNDS):
        OutboxMessage.objects.all().delete()
        start = time.perf_counter()
        with airlock.scope(executor=noop):
            with transaction.atomic():
                for n in range(ENQUEUES):
                    airlock.enqueue(task, n, _dispatch_options=options)
                enqueued = time.perf_counter()
        end = time.perf_counter()
        best_enqueue = min(best_enqueue, enqueued - start)
        best_total = min(best_total, end - start)
    return best_enqueue / ENQUEUES * 1e6, best_total / ENQUEUES * 1e6


def create_database() -> None:
    import psycopg

    from tests.services import PG_USER, SERVICES

    host, port = SERVICES["postgres"]
    with psycopg.connect(
        host=host, port=port, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    from tests.services import PG_USER, SERVICES

    host, port = SERVICES["postgres"]
    with psycopg.connect(
        host=host, port=port, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")


def main() -> None:
    create_database()
    setup_django()
    from django.core.management import call_command

    from tests.services import redis_url

    call_command("migrate", verbosity=0)
    task = celery_task()
    import redis

    broker = redis.Redis.from_url(redis_url(REDIS_DB))
    try:
        memory = enqueue_us(task, None)
        durable = enqueue_us(task, {"durable": True})
        rates = {}
        for name, relays, executor in RUNS:
            fill(task)
            broker.flushdb()
            rates[name] = relay_rate(relays, executor)
            assert broker.llen(QUEUE) == ROWS
        broker.flushdb()
    finally:
        drop_database()
    result = {
        "benchmark": "outbox",
        "database": "postgresql",
        "broker": "redis (celery_executor)",
        "rows": ROWS,
        "relayed_rows_per_second": {name: round(rate) for name, rate in rates.items()},
        "enqueue_us_per_intent": {
            "in_memory": round(memory[0], 2),
            "durable": round(durable[0], 2),
            "extra": round(durable[0] - memory[0], 2),
        },
        "unit_of_work_us_per_intent": {
            "in_memory": round(memory[1], 2),
            "durable": round(durable[1], 2),
            "extra": round(durable[1] - memory[1], 2),
        },
        "intents_per_transaction": ENQUEUES,
        "cpus": os.cpu_count(),
        "quick": QUICK,
    }
    print(json.dumps(result))
    print(f"relay to Celery/Redis, {ROWS} rows, {os.cpu_count()} CPUs (rows per second):")
    for name, rate in rates.items():
        print(f"  {name:<32}{rate:>10.0f}")
    print(f"{'us per intent':<34}{'in memory':>10}{'durable':>10}{'extra':>10}")
    for label, (m, d) in [("enqueue in atomic", (memory[0], durable[0])),
                          ("enqueue + commit + dispatch", (memory[1], durable[1]))]:
        print(f"{label:<34}{m:>10.1f}{d:>10.1f}{d - m:>10.1f}")  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["relay"]:
        relay_process()
    else:
        main()
