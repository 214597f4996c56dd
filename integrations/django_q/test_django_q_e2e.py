"""django-q2 end to end: views under AirlockMiddleware, ORM broker on PostgreSQL and Redis.

Per broker two clusters (one worker each) run for the whole module: "main" reads the default
queue, "other" (``Q_CLUSTER_NAME=airlock_q_other``) only its own. Tasks record in Redis DB 5.
"""

from __future__ import annotations

import signal

import pytest

from tests.processes import wait_until
from tests.services import require_module, require_service

require_module("django_q", "django-q")

from django.test import Client  # noqa: E402
from django_q.models import OrmQ, Task  # noqa: E402

from integrations.common import queue_scenario as scenario  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.django_q import worker_app as app  # noqa: E402
from integrations.django_q.urls import SUITE  # noqa: E402

EXECUTOR = "airlock.integrations.executors.django_q.django_q_executor"


def cluster(kind: str, name: str, db_name: str, cluster_name: str | None = None):
    env = {
        "AIRLOCK_DJANGO_Q_BROKER": kind,
        "AIRLOCK_DJANGO_Q_WORKER": "1",
        "AIRLOCK_WORKER_NAME": name,
    }
    if cluster_name:
        env["Q_CLUSTER_NAME"] = cluster_name
    argv = ["python", "-m", "django", "qcluster", "--skip-checks"]
    return django_worker(argv, db_name=db_name, env=env, ready_text="running.")


@pytest.fixture(scope="module", params=["orm", "redis"])
def clusters(request, e2e_db_name, django_db_blocker):
    kind = request.param
    require_service("redis")
    app.use_broker(kind)
    if kind == "redis":  # tasks a previous, interrupted run may have left
        SUITE.recorder.client.delete("airlock_q", app.OTHER_CLUSTER)
    with cluster(kind, "main", e2e_db_name) as main:
        with cluster(kind, "other", e2e_db_name, app.OTHER_CLUSTER) as other:
            yield kind
            # A cluster stops cleanly (in seconds) only when its main process alone gets
            # SIGTERM; signalling the whole group at once leaves it hanging until SIGKILL.
            for worker in (main, other):
                worker.proc.send_signal(signal.SIGTERM)
            wait_until(
                lambda: main.proc.poll() is not None and other.proc.poll() is not None,
                timeout=30,
                what="both clusters to stop",
            )
    app.use_broker("orm")


@pytest.fixture
def client(clusters, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    SUITE.recorder.client.delete(SUITE.recorder.key)
    return Client(raise_request_exception=False)


def test_commit_runs_exactly_the_tasks_with_key_as_task_name(client, clusters):
    ran = scenario.check_commit_runs_exactly_the_tasks(client, SUITE, "django_q")
    saved = wait_until(lambda: Task.objects.filter(name=ran["mail"]["key"]).first())
    assert saved.success and saved.kwargs == {"to": "ann@example.com"}
    if clusters == "orm":
        # acknowledged after the run: nothing is left in the ORM broker
        wait_until(lambda: not OrmQ.objects.exists(), what="the ORM broker to be empty")


def test_rolled_back_requests_run_nothing(client):
    scenario.check_rolled_back_requests_run_nothing(client, SUITE, "django_q")


def test_cluster_option_routes_to_the_other_cluster(client):
    scenario.check_dispatch_options(client, SUITE, "django_q")


def test_follow_up_leaves_only_when_the_task_succeeds(client):
    scenario.check_follow_up_only_after_success(client, SUITE, "django_q")
