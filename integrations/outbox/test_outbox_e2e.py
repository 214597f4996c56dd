"""The outbox end to end: PostgreSQL, relay processes, Celery on Redis, a real worker.

Each test runs its own processes (tests.processes.running kills them); the broker queue and the
delivery log live in Redis DB 6 (reserved for this suite), or on a redis-server of our own.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import REQUIRE, redis_url, require_module, require_service

require_module("celery", "celery")  # the worker app below imports both at load time
require_module("redis", "celery")

import redis  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from airlock import Intent  # noqa: E402
from airlock.integrations.django.outbox import recorder, registry  # noqa: E402
from airlock.integrations.django.outbox.models import OutboxMessage  # noqa: E402
from integrations.outbox.worker_app import QUEUE, RECORDER, record_delivery  # noqa: E402
from tests.processes import ROOT, Worker, running, wait_until  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]


@pytest.fixture(autouse=True)
def services() -> Iterator[None]:
    require_service("postgres")
    require_service("redis")
    RECORDER.flush()
    yield
    RECORDER.flush()


@pytest.fixture
def env() -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "integrations.outbox.e2e_settings",
        "AIRLOCK_E2E_DB_NAME": connection.settings_dict["NAME"],
        "AIRLOCK_OUTBOX_BROKER": redis_url(6),
    }


def relay(env: dict[str, str], *args: str) -> contextlib.AbstractContextManager[Worker]:
    argv = ["python", "-m", "django", "airlock_relay", "--no-progress", *args]
    return running(argv, env=env, ready=lambda w: "relaying from" in w.output())


def celery_worker(env: dict[str, str]) -> contextlib.AbstractContextManager[Worker]:
    argv = ["python", "-m", "celery", "-A", "integrations.outbox.worker_app", "worker",
            "--pool=solo", "-Q", QUEUE, "-l", "info", "--without-heartbeat", "--without-gossip",
            "--without-mingle"]  # fmt: skip
    return running(argv, env=env, ready=lambda w: " ready." in w.output())


def crash(env: dict[str, str], committed: int, rolled_back: int = 0) -> None:
    """Run the writer that commits, rolls back a batch, and SIGKILLs itself before deciding."""
    done = subprocess.run(
        [sys.executable, "-m", "integrations.outbox.crash", str(committed), str(rolled_back)],
        env={**env, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -9, done.stderr.decode()[-3000:]


def make_rows(count: int) -> list[str]:
    """``count`` committed rows for ``record_delivery(n)``, as enqueue writes them (bulk)."""
    reference = registry.reference_for(record_delivery)
    rows = []
    for n in range(count):
        intent = Intent(task=record_delivery, args=(n,), dispatch_options={"durable": True})
        rows.append(OutboxMessage(message_id=intent.id, task=reference,
                                  payload=recorder.encode(intent)))  # fmt: skip
    OutboxMessage.objects.bulk_create(rows, batch_size=2000)
    return [r.message_id for r in rows]


def deliveries() -> list[dict[str, Any]]:
    return [e for e in RECORDER.entries() if e["label"] == "delivered"]


def drained_through(app_broker: str) -> None:
    """Send a sentinel behind everything and wait for it: the solo worker runs in order."""
    from integrations.outbox.worker_app import app

    with app.connection_for_write(app_broker) as conn:
        record_delivery.apply_async((-1,), task_id="sentinel", connection=conn)
    wait_until(lambda: any(e["order"] == -1 for e in deliveries()), timeout=30, what="sentinel")


def broker_task_ids(client: redis.Redis) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in client.lrange(QUEUE, 0, -1)]


def status_counts() -> dict[str, int]:
    counts = {"pending": 0, "sent": 0, "dead": 0}
    for row in OutboxMessage.objects.values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


def test_crash_before_dispatch_loses_nothing_and_delivers_once(env: dict[str, str]) -> None:
    from integrations.common.models import Note

    crash(env, committed=1000, rolled_back=50)
    orders = set(Note.objects.filter(text__startswith="order").values_list("pk", flat=True))
    assert len(orders) == 1000 and not Note.objects.filter(text__startswith="rolled").exists()
    assert status_counts() == {"pending": 1000, "sent": 0, "dead": 0}  # rolled back: no rows
    assert redis.Redis.from_url(redis_url(6)).llen(QUEUE) == 0  # nothing left the process
    with celery_worker(env), relay(env):
        wait_until(
            lambda: RECORDER.client.llen(RECORDER.key) >= 1000,
            timeout=90,
            interval=0.2,
            what="1000 deliveries",
        )
        drained_through(redis_url(6))
    got = deliveries()[:-1]
    assert sorted(e["order"] for e in got) == sorted(orders)  # each order exactly once
    ids = {r.message_id for r in OutboxMessage.objects.all()}
    assert {e["task_id"] for e in got} == ids  # the intent id is the Celery task id
    assert status_counts() == {"pending": 0, "sent": 1000, "dead": 0}


def test_broker_outage_keeps_rows_pending_then_delivers_each_once(env: dict[str, str]) -> None:
    if not shutil.which("redis-server"):
        message = "the redis-server binary is not installed (apt-get install redis-server)"
        if REQUIRE:
            pytest.fail(f"{message} (AIRLOCK_REQUIRE_SERVICES=1)", pytrace=False)
        pytest.skip(message)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**env, "AIRLOCK_OUTBOX_BROKER": f"redis://127.0.0.1:{port}/0"}
    crash(env, committed=100)
    with relay(env) as r:

        def all_failed_once() -> bool:
            rows = list(OutboxMessage.objects.all())
            return all(row.attempts >= 1 for row in rows)

        wait_until(all_failed_once, timeout=60, what="every row to fail at least once")
        assert status_counts() == {"pending": 100, "sent": 0, "dead": 0}
        errors = set(OutboxMessage.objects.values_list("last_error", flat=True))
        assert all(re.search(r"refused|Error 111|connect", e, re.I) for e in errors), errors
        server = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no"]  # fmt: skip
        with running(server, ready=lambda w: "Ready to accept" in w.output()):
            with celery_worker(env):
                wait_until(lambda: status_counts()["sent"] == 100, timeout=60, what="all sent")
                drained_through(env["AIRLOCK_OUTBOX_BROKER"])
        assert "retried=" in r.output() or r.alive()
    got = deliveries()[:-1]
    assert len(got) == 100 and len({e["order"] for e in got}) == 100


def test_four_relays_drain_ten_thousand_rows_each_sent_once(env: dict[str, str]) -> None:
    ids = make_rows(10_000)
    client = redis.Redis.from_url(redis_url(6))
    with contextlib.ExitStack() as stack:
        relays = [stack.enter_context(relay(env, "--batch-size", "200")) for _ in range(4)]
        wait_until(
            lambda: status_counts()["sent"] == 10_000, timeout=120, interval=0.5, what="10,000 sent"
        )
        for r in relays:
            r.stop()
        sent = [int(re.findall(r"sent=(\d+)", r.output())[-1]) for r in relays]
    assert sum(sent) == 10_000
    assert sum(1 for n in sent if n) >= 2, sent  # they really shared the work
    on_broker = broker_task_ids(client)
    assert len(on_broker) == 10_000 and set(on_broker) == set(ids)
    client.delete(QUEUE)


def test_sigterm_mid_backlog_finishes_the_batch_and_loses_nothing(env: dict[str, str]) -> None:
    ids = make_rows(2000)
    client = redis.Redis.from_url(redis_url(6))
    with relay(env, "--batch-size", "50") as r:
        wait_until(lambda: status_counts()["sent"] >= 100, timeout=60, what="some rows sent")
        r.stop()
        assert r.proc.returncode == 0, r.output()[-3000:]
        assert "finishing the batch in hand" in r.output()
    counts = status_counts()
    assert counts["pending"] > 0 and counts["sent"] % 50 == 0  # stopped between batches
    assert len(broker_task_ids(client)) == counts["sent"]  # no claimed row half-done
    with relay(env, "--once") as r2:
        wait_until(lambda: not r2.alive(), timeout=60, interval=0.2, what="--once to finish")
    assert sorted(broker_task_ids(client)) == sorted(ids)
    client.delete(QUEUE)
