"""huey end to end: views under AirlockMiddleware, Redis and SQLite storage, a real consumer.

Per storage one consumer (one worker thread) runs for the whole module and records what it ran
in Redis DB 4. huey has no queue names, so routing is not part of this suite.
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service

require_module("huey", "huey")

from django.test import Client  # noqa: E402

from integrations.common import queue_scenario as scenario  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.huey import worker_app as app  # noqa: E402
from integrations.huey.urls import SUITE  # noqa: E402

EXECUTOR = "airlock.integrations.executors.huey.huey_executor"


@pytest.fixture(scope="module", params=["redis", "sqlite"])
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
def client(consumer, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    SUITE.recorder.client.delete(SUITE.recorder.key)
    return Client(raise_request_exception=False)


def test_commit_runs_exactly_the_tasks_with_key_as_task_id(client):
    ran = scenario.check_commit_runs_exactly_the_tasks(client, SUITE, "huey")
    assert ran["mail"]["task_id"] == ran["mail"]["key"]


def test_rolled_back_requests_run_nothing(client):
    scenario.check_rolled_back_requests_run_nothing(client, SUITE, "huey")


def test_delay_is_not_run_early(client):
    scenario.check_dispatch_options(client, SUITE, "huey")


def test_follow_up_leaves_only_when_the_task_succeeds(client):
    scenario.check_follow_up_only_after_success(client, SUITE, "huey")
