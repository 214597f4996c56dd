"""Celery end to end: a Django view in AirlockMiddleware, a real broker, real worker processes.

Per broker (Redis DB 1, RabbitMQ) two workers run for the whole module: ``main`` consumes the
default queue, ``special`` only ``airlock_celery_special``. Workers record every task they ran
into Redis DB 2. Each worker is solo and takes one message at a time, in order, so a sentinel
published straight to the broker proves what had (not) been published before it. On Redis every
test runs twice, on the same workers: through ``celery_executor`` and ``celery_batch_executor``.
"""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests.processes import wait_until
from tests.services import amqp_url, redis_url, require_module, require_service

require_module("celery", "celery")

import airlock  # noqa: E402
from airlock import _config  # noqa: E402
from airlock.integrations import celery as airlock_celery  # noqa: E402
from airlock.integrations.executors.celery import (  # noqa: E402
    CeleryBatchExecutor,
    celery_batch_executor,
    celery_executor,
)
from integrations.celery.views import worker_ran_so_far  # noqa: E402
from integrations.celery.worker_app import (  # noqa: E402
    DEFAULT_QUEUE,
    RECORDER,
    SPECIAL_QUEUE,
    record,
    use_broker,
)
from integrations.common.publishing import parametrize_paths, watch_batches  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

BROKERS = {"redis": lambda: redis_url(1), "rabbitmq": amqp_url}


def worker_argv(queue: str, name: str) -> list[str]:
    return [
        "python", "-m", "celery", "-A", "integrations.celery.worker_app", "worker",
        "--pool=solo", "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel=info", "-Q", queue, "-n", f"{name}@%h",
    ]  # fmt: skip


def pytest_generate_tests(metafunc):
    parametrize_paths(metafunc, "broker", sorted(BROKERS))


@pytest.fixture(scope="module")
def broker(request, e2e_db_name):
    """Two workers on one broker for the whole module; the test process sends to it too."""
    require_service(request.param)
    require_service("redis")  # the recorder
    url = BROKERS[request.param]()
    if request.param == "redis":
        import redis

        redis.Redis.from_url(url).flushdb()
    env = {"AIRLOCK_CELERY_BROKER": url, "AIRLOCK_CELERY_WORKER": "1"}
    use_broker(url)
    with contextlib.ExitStack() as stack:
        # Start both, then wait for both: they boot in parallel.
        workers = [
            stack.enter_context(
                django_worker(worker_argv(queue, f"{role}-{request.param}"), db_name=e2e_db_name,
                              env=env)
            )
            for queue, role in ((DEFAULT_QUEUE, "main"), (SPECIAL_QUEUE, "special"))
        ]  # fmt: skip
        for worker in workers:
            wait_until(
                lambda w=worker: " ready." in w.output() or not w.alive(),
                timeout=60,
                what="a Celery worker to be ready",
            )
            assert worker.alive(), worker.output()[-3000:]
        yield request.param
        for worker in workers:
            assert worker.alive(), worker.output()[-3000:]
        for worker in workers:  # let both shut down at once; the stack then waits for each
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.proc.pid, signal.SIGTERM)


@pytest.fixture(autouse=True)
def publishing(broker, publish_path, monkeypatch):
    """The path's executor over the Django app's configuration (DjangoScope), restored after."""
    saved = {k: dict(v) if isinstance(v, dict) else v for k, v in _config.current().items()}
    publishing = watch_batches(monkeypatch, CeleryBatchExecutor, publish_path)
    airlock.configure(executor=celery_batch_executor if publishing.batched else celery_executor)
    RECORDER.flush()
    yield publishing
    _config.current().clear()
    _config.current().update(saved)


def entry(label: str) -> dict:
    [found] = [e for e in RECORDER.entries() if e["label"] == label]
    return found


def test_tasks_leave_only_after_commit_and_run_exactly_once_with_their_arguments(
    client, publishing
):
    data = client.get("/celery/order/").json()
    # (a) inside atomic, a sentinel sent after the enqueues ran first: nothing had been published
    assert data["ran_inside"] == ["sentinel-inside-atomic"]
    RECORDER.wait_for("mail")
    # (b) exactly the expected tasks, in order, nothing else
    assert worker_ran_so_far("sentinel-after") == [
        "sentinel-inside-atomic",
        "note",
        "mail",
        "sentinel-after",
    ]
    note = entry("note")
    assert note["args"] == [data["note"]] and note["kwargs"] == {"text": "order 7"}
    mail = entry("mail")
    assert (mail["args"], mail["kwargs"]) == ([7], {"to": "ann@example.com"})
    assert mail["task_id"] == data["mail_id"] == f"mail-{data['note']}"  # the key is the task id
    assert publishing.batches == publishing.expect(2)  # one transaction on the batched path


@pytest.mark.parametrize("outcome", ["rollback", "error"])
def test_rolled_back_or_failed_request_runs_nothing(outcome, client, publishing):
    from django.db import connection

    client.raise_request_exception = False  # the error case must come back as a 500
    response = client.get(f"/celery/order/?outcome={outcome}")
    assert response.status_code == (200 if outcome == "rollback" else 500)
    # (c) a later sentinel runs and nothing ran before it except the one sent inside atomic
    assert worker_ran_so_far("sentinel-after") == ["sentinel-inside-atomic", "sentinel-after"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM airlock_e2e_common_note")
        assert cursor.fetchone()[0] == 0
    assert publishing.batches == []


def test_dispatch_options_queue_and_countdown(client, publishing):
    eta = client.get("/celery/options/").json()["eta"]
    RECORDER.wait_for("special")
    RECORDER.wait_for("default")
    # (d) only the worker on the special queue took the special task
    assert entry("special")["worker"].startswith("special-")
    assert entry("special")["queue"] == SPECIAL_QUEUE
    assert entry("default")["worker"].startswith("main-")
    # the countdown task was published before this sentinel, yet has not run: it waits
    assert "later" not in worker_ran_so_far("sentinel-after")
    RECORDER.wait_for("later", timeout=20)
    # 3 s countdown; 20 ms of slack for the worker timer's float clock arithmetic
    assert entry("later")["at"] >= eta - 0.02, "a countdown task ran before its eta"
    assert publishing.batches == publishing.expect(3)


def via(publishing) -> str:
    """The query that makes the worker send follow-ups through the path's executor."""
    return f"via={publishing.via}" if publishing.via else ""


def test_task_body_scope_sends_follow_ups_only_when_the_task_succeeds(client, publishing):
    client.get(f"/celery/spawns/?{via(publishing)}")
    RECORDER.wait_for("follow-up")
    # (e) the failed spawn's follow-up would have been published before the good one's
    assert worker_ran_so_far("sentinel-after") == ["spawn", "spawn", "follow-up", "sentinel-after"]
    assert [e["args"] for e in RECORDER.entries() if e["label"] in ("spawn", "follow-up")] == [
        ["bad"],
        ["good"],
        ["good"],
    ]
    assert publishing.batches == publishing.expect(2)


def test_a_retrying_task_is_retried_and_only_the_last_attempt_sends_its_follow_up(
    client, publishing
):
    client.get(f"/celery/spawns/?retry=1&{via(publishing)}")
    RECORDER.wait_for("attempt-follow-up")
    worker_ran_so_far("sentinel-after")
    follow_ups = [e["args"] for e in RECORDER.entries() if e["label"] == "attempt-follow-up"]
    assert follow_ups == [["retried", 1]]  # attempt 0 raised Retry: its follow-up was discarded
    assert publishing.batches == publishing.expect(3)


@pytest.fixture
def intercept():
    airlock_celery.install()
    yield
    airlock_celery.uninstall()


def test_migration_intercept_delay_in_a_request_leaves_after_commit(client, intercept, publishing):
    with pytest.warns(DeprecationWarning, match="delay"):
        data = client.get("/celery/legacy/").json()
    assert data["ran_inside"] == ["sentinel-legacy"]
    legacy = RECORDER.wait_for("legacy")[-1]
    assert (legacy["args"], legacy["kwargs"]) == ([1], {"via": "delay"})
    assert legacy["task_id"] == data["task_id"]  # the AsyncResult handed out in the view
    assert publishing.batches == []  # a held .delay() is sent alone, through its apply_async
    # outside any scope .delay() passes straight through
    record.delay("outside")
    RECORDER.wait_for("outside")
