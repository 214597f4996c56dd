"""Strict mode end to end on huey: views under AirlockMiddleware, Redis storage, a real consumer.

A direct task call inside a request's ``atomic`` is reported at the view's line; the same call
through ``airlock.enqueue`` is not (``integrations/common/strict_scenario.py``).
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service

require_module("huey", "huey")

from integrations.common import strict_scenario as scenario  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402
from integrations.huey import urls  # noqa: E402
from integrations.huey import worker_app as app  # noqa: E402

EXECUTOR = "airlock.integrations.executors.huey.huey_executor"


@pytest.fixture(scope="module")
def consumer(e2e_db_name):
    require_service("redis")
    storage = app.use_storage("redis")
    storage.flush_all()  # tasks a previous, interrupted run may have left
    argv = ["python", "-m", "huey.bin.huey_consumer", "integrations.huey.worker_app.huey"]
    argv += ["-w", "1", "-k", "thread", "-d", "0.05", "-m", "0.25", "-s", "1", "-n"]
    env = {"AIRLOCK_HUEY_STORAGE": "redis", "AIRLOCK_HUEY_WORKER": "1"}
    env["AIRLOCK_WORKER_NAME"] = "main"
    with django_worker(argv, db_name=e2e_db_name, env=env, ready_text="consumer started"):
        yield
    storage.flush_all()


@pytest.fixture
def strict(consumer, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    urls.SUITE.recorder.client.delete(urls.SUITE.recorder.key)
    return settings


def test_a_bypass_in_a_requests_atomic_raises_at_the_views_line_and_nothing_leaves(strict):
    scenario.check_raise(strict, urls.SUITE, "huey", urls)


def test_warn_reports_the_call_site_once_and_the_message_leaves(strict):
    scenario.check_warn(strict, urls.SUITE, "huey", urls)


def test_the_same_call_through_airlock_is_not_reported_and_runs(strict):
    scenario.check_through_airlock(strict, urls.SUITE, "huey")
