"""dramatiq end to end: views under AirlockMiddleware, real Redis / RabbitMQ, real workers.

Per broker two workers run for the whole module: "main" reads the default queue, "other" reads
only ``airlock_dramatiq_other``. Both record what they ran in Redis DB 3. On Redis every test
runs twice, on the same workers: through ``dramatiq_executor`` and ``dramatiq_batch_executor``.
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service

require_module("dramatiq", "dramatiq")

from django.test import Client  # noqa: E402

from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor  # noqa: E402
from integrations.common import queue_scenario as scenario  # noqa: E402
from integrations.common.publishing import parametrize_paths, watch_batches  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.dramatiq import worker_app as app  # noqa: E402
from integrations.dramatiq.urls import SUITE  # noqa: E402

EXECUTORS = {
    "per-message": "airlock.integrations.executors.dramatiq.dramatiq_executor",
    "batched": "airlock.integrations.executors.dramatiq.dramatiq_batch_executor",
}


def pytest_generate_tests(metafunc):
    parametrize_paths(metafunc, "workers", ["rabbitmq", "redis"])


def worker(kind: str, name: str, queue: str, db_name: str):
    argv = ["python", "-m", "dramatiq", "integrations.dramatiq.worker_app"]
    argv += ["--processes", "1", "--threads", "1", "--queues", queue]
    env = {
        "AIRLOCK_DRAMATIQ_BROKER": kind,
        "AIRLOCK_DRAMATIQ_WORKER": "1",
        "AIRLOCK_WORKER_NAME": name,
    }
    return django_worker(argv, db_name=db_name, env=env, ready_text="ready for action")


@pytest.fixture(scope="module")
def workers(request, e2e_db_name):
    kind = request.param
    require_service("redis")
    require_service(kind)
    broker = app.use_broker(kind)
    broker.flush_all()  # messages a previous, interrupted run may have left
    with worker(kind, "main", app.DEFAULT_QUEUE, e2e_db_name):
        with worker(kind, "other", app.OTHER_QUEUE, e2e_db_name):
            yield kind
    broker.flush_all()
    broker.close()


@pytest.fixture
def publishing(workers, publish_path, monkeypatch):
    return watch_batches(monkeypatch, DramatiqBatchExecutor, publish_path)


@pytest.fixture
def client(publishing, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTORS[publishing.path]}
    SUITE.recorder.client.delete(SUITE.recorder.key)
    return Client(raise_request_exception=False)


def test_commit_runs_exactly_the_tasks_with_key_as_message_id(client, publishing):
    ran = scenario.check_commit_runs_exactly_the_tasks(client, SUITE, "dramatiq")
    assert ran["mail"]["message_id"] == ran["mail"]["key"]
    assert publishing.batches == publishing.expect(2)  # one transaction on the batched path


def test_rolled_back_requests_run_nothing(client, publishing):
    scenario.check_rolled_back_requests_run_nothing(client, SUITE, "dramatiq")
    assert publishing.batches == []


def test_queue_name_and_delay(client, publishing):
    scenario.check_dispatch_options(client, SUITE, "dramatiq")
    assert publishing.batches == publishing.expect(3)


def test_follow_up_leaves_only_when_the_actor_succeeds(client, publishing):
    scenario.check_follow_up_only_after_success(client, SUITE, "dramatiq", via=publishing.via)
    assert publishing.batches == publishing.expect(2)
