"""Strict mode end to end on dramatiq: views under AirlockMiddleware, Redis, one real worker.

A direct ``actor.send`` inside a request's ``atomic`` is reported at the view's line; the same
call through ``airlock.enqueue`` is not (``integrations/common/strict_scenario.py``).
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service

require_module("dramatiq", "dramatiq")

from integrations.common import strict_scenario as scenario  # noqa: E402
from integrations.dramatiq import urls  # noqa: E402
from integrations.dramatiq import worker_app as app  # noqa: E402
from integrations.dramatiq.test_dramatiq_e2e import worker  # noqa: E402

EXECUTOR = "airlock.integrations.executors.dramatiq.dramatiq_executor"


@pytest.fixture(scope="module")
def main_worker(e2e_db_name):
    require_service("redis")
    broker = app.use_broker("redis")
    broker.flush_all()  # messages a previous, interrupted run may have left
    with worker("redis", "main", app.DEFAULT_QUEUE, e2e_db_name):
        yield
    broker.flush_all()
    broker.close()


@pytest.fixture
def strict(main_worker, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    urls.SUITE.recorder.client.delete(urls.SUITE.recorder.key)
    return settings


def test_a_bypass_in_a_requests_atomic_raises_at_the_views_line_and_nothing_leaves(strict):
    scenario.check_raise(strict, urls.SUITE, "dramatiq", urls)


def test_warn_reports_the_call_site_once_and_the_message_leaves(strict):
    scenario.check_warn(strict, urls.SUITE, "dramatiq", urls)


def test_the_same_call_through_airlock_is_not_reported_and_runs(strict):
    scenario.check_through_airlock(strict, urls.SUITE, "dramatiq")
