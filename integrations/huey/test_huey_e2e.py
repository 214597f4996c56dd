"""huey end to end: views under AirlockMiddleware, Redis and SQLite storage, a real consumer.

Per storage one consumer (one worker thread) runs for the whole module and records what it ran
in Redis DB 4. huey has no queue names, so routing is not part of this suite. On Redis every test
runs twice, on the same consumer: through ``huey_executor`` and ``huey_batch_executor``.
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service

require_module("huey", "huey")

from django.test import Client  # noqa: E402

from airlock.integrations.executors.huey import HueyBatchExecutor  # noqa: E402
from integrations.common import queue_scenario as scenario  # noqa: E402
from integrations.common.publishing import parametrize_paths, watch_batches  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.huey import worker_app as app  # noqa: E402
from integrations.huey.urls import SUITE  # noqa: E402

EXECUTORS = {
    "per-message": "airlock.integrations.executors.huey.huey_executor",
    "batched": "airlock.integrations.executors.huey.huey_batch_executor",
}


def pytest_generate_tests(metafunc):
    parametrize_paths(metafunc, "consumer", ["sqlite", "redis"])


@pytest.fixture(scope="module")
def consumer(request, e2e_db_name, tmp_path_factory):
    kind = request.param
    require_service("redis")
    path = str(tmp_path_factory.mktemp("huey") / "huey.db") if kind == "sqlite" else ""
    storage = app.use_storage(kind, path)
    storage.flush_all()  # tasks a previous, interrupted run may have left
    argv = ["python", "-m", "huey.bin.huey_consumer", "integrations.huey.worker_app.huey"]
    argv += ["-w", "1", "-k", "thread", "-d", "0.05", "-m", "0.25", "-s", "1", "-n"]
    env = {
        "AIRLOCK_HUEY_STORAGE": kind,
        "AIRLOCK_HUEY_SQLITE": path,
        "AIRLOCK_HUEY_WORKER": "1",
        "AIRLOCK_WORKER_NAME": "main",
    }
    with django_worker(argv, db_name=e2e_db_name, env=env, ready_text="consumer started"):
        yield kind
    storage.flush_all()


@pytest.fixture
def publishing(consumer, publish_path, monkeypatch):
    return watch_batches(monkeypatch, HueyBatchExecutor, publish_path)


@pytest.fixture
def client(publishing, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTORS[publishing.path]}
    SUITE.recorder.client.delete(SUITE.recorder.key)
    return Client(raise_request_exception=False)


def test_commit_runs_exactly_the_tasks_with_key_as_task_id(client, publishing):
    ran = scenario.check_commit_runs_exactly_the_tasks(client, SUITE, "huey")
    assert ran["mail"]["task_id"] == ran["mail"]["key"]
    assert publishing.batches == publishing.expect(2)  # one transaction on the batched path


def test_rolled_back_requests_run_nothing(client, publishing):
    scenario.check_rolled_back_requests_run_nothing(client, SUITE, "huey")
    assert publishing.batches == []


def test_delay_is_not_run_early(client, publishing):
    scenario.check_dispatch_options(client, SUITE, "huey")
    assert publishing.batches == publishing.expect(2)


def test_follow_up_leaves_only_when_the_task_succeeds(client, publishing):
    scenario.check_follow_up_only_after_success(client, SUITE, "huey", via=publishing.via)
    assert publishing.batches == publishing.expect(2)
