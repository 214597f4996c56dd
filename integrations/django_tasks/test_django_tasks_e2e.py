"""Django tasks end to end: views under AirlockMiddleware, the django-tasks-db database backend
on PostgreSQL, and its ``db_worker``: Django 6's own ``django.tasks`` where Django has it, else the
``django-tasks`` backport (``make test-django61`` runs the former, ``make test-integrations`` the
latter).

Two workers run for the whole module: "main" reads the ``default`` queue, "other" only
``airlock_tasks_other``. Tasks record what they ran in Redis DB 5.
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.services import require_module, require_service

if importlib.util.find_spec("django.tasks") is None:  # Django 5.2: the backport
    require_module("django_tasks", "django-tasks")
require_module("django_tasks_db", "dev")

from django.test import Client  # noqa: E402
from django_tasks_db.models import DBTaskResult  # noqa: E402

from integrations.common import queue_scenario as scenario  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.django_tasks import worker_app as app  # noqa: E402
from integrations.django_tasks.urls import SUITE  # noqa: E402

EXECUTOR = "airlock.integrations.executors.django_tasks.django_tasks_executor"


def db_worker(name: str, queue: str, db_name: str):
    argv = ["python", "-m", "django", "db_worker", "--skip-checks", "--queue-name", queue]
    argv += ["--interval", "0.1", "--no-startup-delay", "--worker-id", name]
    env = {"AIRLOCK_DJANGO_TASKS_WORKER": "1", "AIRLOCK_WORKER_NAME": name}
    return django_worker(argv, db_name=db_name, env=env, ready_text="Starting worker")


@pytest.fixture(scope="module")
def workers(e2e_db_name):
    require_service("redis")
    with db_worker("main", "default", e2e_db_name):
        with db_worker("other", app.OTHER_QUEUE, e2e_db_name):
            yield


@pytest.fixture
def client(workers, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    SUITE.recorder.client.delete(SUITE.recorder.key)
    return Client(raise_request_exception=False)


def test_commit_runs_exactly_the_tasks(client):
    ran = scenario.check_commit_runs_exactly_the_tasks(client, SUITE, "django_tasks")
    stored = DBTaskResult.objects.get(id=ran["mail"]["result_id"])
    assert stored.args_kwargs == {"args": ["mail", 7], "kwargs": {"to": "ann@example.com"}}


def test_rolled_back_requests_run_nothing(client):
    scenario.check_rolled_back_requests_run_nothing(client, SUITE, "django_tasks")


def test_queue_name_and_run_after(client):
    scenario.check_dispatch_options(client, SUITE, "django_tasks")


def test_follow_up_leaves_only_when_the_task_succeeds(client):
    scenario.check_follow_up_only_after_success(client, SUITE, "django_tasks")
