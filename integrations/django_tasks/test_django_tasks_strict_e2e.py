"""Strict mode end to end on Django tasks: views under AirlockMiddleware, django-tasks-db's
database backend on PostgreSQL, one real ``db_worker``.

A direct ``task.enqueue`` inside a request's ``atomic`` is reported at the view's line; the
same call through ``airlock.enqueue`` is not (``integrations/common/strict_scenario.py``).
"""

from __future__ import annotations

import importlib.util

import pytest

from tests.services import require_module, require_service

if importlib.util.find_spec("django.tasks") is None:  # Django 5.2: the backport
    require_module("django_tasks", "django-tasks")
require_module("django_tasks_db", "dev")

from django_tasks_db.models import DBTaskResult  # noqa: E402

from integrations.common import strict_scenario as scenario  # noqa: E402
from integrations.django_tasks import urls  # noqa: E402
from integrations.django_tasks.test_django_tasks_e2e import EXECUTOR, db_worker  # noqa: E402


@pytest.fixture(scope="module")
def main_worker(e2e_db_name):
    require_service("redis")
    with db_worker("main", "default", e2e_db_name):
        yield


@pytest.fixture
def strict(main_worker, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    urls.SUITE.recorder.client.delete(urls.SUITE.recorder.key)
    return settings


def test_a_bypass_in_a_requests_atomic_raises_at_the_views_line_and_nothing_leaves(strict):
    table = DBTaskResult._meta.db_table  # the message is a row written in the transaction
    scenario.check_raise(strict, urls.SUITE, "django_tasks", urls, table=table)


def test_warn_reports_the_call_site_once_and_the_message_leaves(strict):
    scenario.check_warn(strict, urls.SUITE, "django_tasks", urls)


def test_the_same_call_through_airlock_is_not_reported_and_runs(strict):
    scenario.check_through_airlock(strict, urls.SUITE, "django_tasks")
