"""Inbox cost: microseconds per task of an apply-once task against the same task without it,
on PostgreSQL, called in-process (no broker: what the worker adds around the task body).

Series, interleaved round by round (a burst of load elsewhere hits them alike):

- ``autocommit``: the body alone, its INSERT committed by itself (a task with no transaction);
- ``atomic``: the body in ``transaction.atomic()`` (a task that keeps its writes together);
- ``apply_once``: the body under ``apply_once`` with a new message id (the inbox INSERT, then
  the body, in one transaction);
- ``duplicate``: ``apply_once`` with an id already applied (the INSERT finds it; no body).

The body inserts one row. Each series runs twice: with the server's settings (each commit that
wrote waits for its WAL flush, which dominates on a slow disk) and with ``synchronous_commit``
off for the session (what remains: CPU and round trips, the inbox's own cost). Prints one JSON
line, then a table. Needs PostgreSQL (a scratch database ``airlock_bench_inbox`` is created and
dropped). ``AIRLOCK_BENCH_QUICK=1``: smoke run.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
sys.path.insert(0, str(ROOT))

QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
TASKS = 200 if QUICK else 1_000  # per round and series
ROUNDS = 3 if QUICK else 9
DB_NAME = "airlock_bench_inbox"


def admin_sql(statement: str) -> None:
    import psycopg

    from tests.services import PG_USER, SERVICES

    host, port = SERVICES["postgres"]
    with psycopg.connect(
        host=host, port=port, user=PG_USER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(statement)


def setup_django() -> None:
    import django
    from django.conf import settings

    from tests.services import PG_USER, SERVICES

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
        INSTALLED_APPS=["airlock.integrations.django", "airlock.integrations.django.inbox"],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()


def series() -> dict[str, Callable[[int], object]]:
    from django.db import connection, transaction

    from airlock.integrations.django.inbox import apply_once

    ids = itertools.count()

    def body(order: int, message_id: str = "") -> None:
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO bench_effect (order_id) VALUES (%s)", [order])

    once = apply_once(body, message_id=lambda order, message_id: message_id)
    once(0, "already-applied")

    def autocommit(n: int) -> None:
        for i in range(n):
            body(i)

    def atomic(n: int) -> None:
        for i in range(n):
            with transaction.atomic():
                body(i)

    def apply_new(n: int) -> None:
        for i in range(n):
            once(i, f"message-{next(ids)}")

    def duplicate(n: int) -> None:
        for i in range(n):
            once(i, "already-applied")

    return {"autocommit": autocommit, "atomic": atomic, "apply_once": apply_new,
            "duplicate": duplicate}  # fmt: skip


def measure() -> dict[str, float]:
    runs = series()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(ROUNDS):
        for name, run in runs.items():
            gc.collect()
            start = time.perf_counter()
            run(TASKS)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: round(seconds / TASKS * 1e6, 1) for name, seconds in best.items()}


def main() -> None:
    admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    admin_sql(f"CREATE DATABASE {DB_NAME}")
    try:
        setup_django()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_effect (id bigserial PRIMARY KEY, order_id int)")
        us = measure()
        with connection.cursor() as cursor:  # no WAL flush per commit: what remains is CPU and
            cursor.execute("SET synchronous_commit TO off")  # round trips, the inbox's own cost
        us_async = measure()
        rows = {"inbox_rows": 0}
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM airlock_inbox_message")
            rows["inbox_rows"] = cursor.fetchone()[0]
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(f"DROP DATABASE IF EXISTS {DB_NAME}")
    result = {
        "benchmark": "inbox",
        "database": "postgresql (loopback)",
        "us_per_task": us,
        "extra_over_atomic_us": round(us["apply_once"] - us["atomic"], 1),
        "extra_over_autocommit_us": round(us["apply_once"] - us["autocommit"], 1),
        "us_per_task_synchronous_commit_off": us_async,
        "extra_over_atomic_us_synchronous_commit_off": round(
            us_async["apply_once"] - us_async["atomic"], 1
        ),
        "tasks_per_round": TASKS,
        "rounds": ROUNDS,
        "timing": "min of rounds, wall clock, series interleaved; shared noisy machine",
        "inbox_rows_at_end": rows["inbox_rows"],
        "quick": QUICK,
    }
    print(json.dumps(result))
    print(f"{'us per task (PostgreSQL, in-process)':<40}{'default':>10}{'sync off':>10}")
    for name, value in us.items():
        print(f"  {name:<38}{value:>10.1f}{us_async[name]:>10.1f}")


if __name__ == "__main__":
    main()
