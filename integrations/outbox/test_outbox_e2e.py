"""The outbox end to end: PostgreSQL, relay processes, Celery on Redis, a real worker.

Each test runs its own processes (tests.processes.running kills them); the broker queue and the
delivery log live in Redis DB 6 (reserved for this suite), or on a redis-server of our own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.services import REQUIRE, redis_url, require_module, require_service

require_module("celery", "celery")  # the worker app below imports both at load time
require_module("redis", "celery")

import redis  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402

from airlock import Intent  # noqa: E402
from airlock.integrations.django.outbox import recorder, registry  # noqa: E402
from airlock.integrations.django.outbox.models import OutboxMessage  # noqa: E402
from integrations.outbox.worker_app import QUEUE, RECORDER, record_delivery  # noqa: E402
from tests.processes import ROOT, Worker, running, wait_until  # noqa: E402

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# After SIGTERM a relay hands no further row to the executor: it stops once the send in
# progress returns (about 2 s with the slow client settings), commits, and exits.
STOP_BOUND = 15.0


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


def test_sigterm_mid_backlog_stops_after_the_send_in_progress_and_loses_nothing(
    env: dict[str, str],
) -> None:
    ids = make_rows(2000)
    client = redis.Redis.from_url(redis_url(6))
    with relay(env, "--batch-size", "50") as r:
        wait_until(lambda: status_counts()["sent"] >= 100, timeout=60, what="some rows sent")
        r.stop()
        assert r.proc.returncode == 0, r.output()[-3000:]
        assert "stopping after the send in progress" in r.output()
    counts = status_counts()
    assert counts["pending"] > 0 and counts["dead"] == 0
    assert len(broker_task_ids(client)) == counts["sent"]  # no claimed row half-done
    with relay(env, "--once") as r2:
        wait_until(lambda: not r2.alive(), timeout=60, interval=0.2, what="--once to finish")
    assert sorted(broker_task_ids(client)) == sorted(ids)
    client.delete(QUEUE)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def locked_by_a_relay() -> bool:
    """True while another transaction holds every ready row (a relay claimed its batch)."""
    with transaction.atomic():
        free = OutboxMessage.objects.select_for_update(skip_locked=True).values_list("pk")
        return not list(free)


def test_sigterm_during_a_broker_outage_stops_within_one_send(env: dict[str, str]) -> None:
    # Each publish to the closed port blocks about 2 s (the slow client settings): the batch of
    # 100 would take over 200 s. SIGTERM lets the publish in progress return, and no other.
    env = {**env, "AIRLOCK_OUTBOX_BROKER": f"redis://127.0.0.1:{closed_port()}/0",
           "AIRLOCK_OUTBOX_PUBLISH": "slow"}  # fmt: skip
    make_rows(100)
    with relay(env, "--batch-size", "100") as r:
        wait_until(locked_by_a_relay, timeout=30, what="the relay to claim its batch")
        os.kill(r.proc.pid, signal.SIGTERM)
        started = time.monotonic()
        try:
            r.proc.wait(timeout=STOP_BOUND)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the relay still ran {STOP_BOUND}s after SIGTERM:\n{r.output()[-3000:]}")
        stopped_in = time.monotonic() - started
        assert r.proc.returncode == 0, r.output()[-3000:]
        output = r.output()
    rows = list(OutboxMessage.objects.all())
    tried = [row for row in rows if row.attempts]
    assert {row.status for row in rows} == {"pending"}  # none dead, none lost
    # At most the publish in progress (none when SIGTERM lands between the claim and the first
    # publish, which a loaded machine can make happen), plus what fits in the stop time.
    assert len(tried) <= 1 + stopped_in / 1.5, (len(tried), stopped_in)
    assert stopped_in < 1.5 or tried, (len(tried), stopped_in)
    assert all(row.attempts == 1 and "111" in row.last_error for row in tried)
    assert all(not row.last_error for row in rows if not row.attempts)  # untried: untouched
    assert f"sent=0 retried={len(tried)} dead=0" in output


def test_the_documented_fail_fast_settings_return_a_failed_publish_at_once() -> None:
    from celery import Celery

    from integrations.outbox.worker_app import FAIL_FAST, SLOW

    docs = (ROOT / "docs" / "outbox.md").read_text()
    assert 'broker_transport_options = {"max_retries": 1, "interval_start": 0}' in docs
    assert FAIL_FAST["broker_transport_options"] == {"max_retries": 1, "interval_start": 0}

    def publish_time(conf: dict[str, Any]) -> float:
        app = Celery("fail_fast", broker=f"redis://127.0.0.1:{closed_port()}/0",
                     set_as_current=False)  # fmt: skip
        app.conf.update(**conf, task_ignore_result=True)

        @app.task(name="fail_fast.noop")
        def noop() -> None:
            pass

        started = time.monotonic()
        with pytest.raises(Exception, match=r"111|refused"):
            noop.apply_async()
        return time.monotonic() - started

    publish_time(FAIL_FAST)  # the first publish also imports the transport
    assert max(publish_time(FAIL_FAST) for _ in range(3)) < 0.5
    assert publish_time(SLOW) > 1.5  # without interval_start: kombu waits 2 s before its retry
