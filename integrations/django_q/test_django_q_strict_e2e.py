"""Strict mode end to end on django-q2: views under AirlockMiddleware, the Redis broker
(outside the request's transaction, unlike the ORM broker), one real cluster.

A direct ``async_task`` inside a request's ``atomic`` is reported at the view's line; the same
call through ``airlock.enqueue`` is not (``integrations/common/strict_scenario.py``).
"""

from __future__ import annotations

import signal

import pytest

from tests.processes import wait_until
from tests.services import require_module, require_service

require_module("django_q", "django-q")

from integrations.common import strict_scenario as scenario  # noqa: E402
from integrations.django_q import urls  # noqa: E402
from integrations.django_q import worker_app as app  # noqa: E402
from integrations.django_q.test_django_q_e2e import EXECUTOR, cluster  # noqa: E402


@pytest.fixture(scope="module")
def main_cluster(e2e_db_name, django_db_blocker):
    require_service("redis")
    app.use_broker("redis")
    urls.SUITE.recorder.client.delete("airlock_q")  # tasks a previous, interrupted run left
    with cluster("redis", "main", e2e_db_name) as main:
        yield
        # the cluster stops cleanly only when its main process alone gets SIGTERM
        main.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: main.proc.poll() is not None, timeout=30, what="the cluster to stop")
    app.use_broker("orm")


@pytest.fixture
def strict(main_cluster, transactional_db, settings):
    settings.AIRLOCK = {"EXECUTOR": EXECUTOR}
    urls.SUITE.recorder.client.delete(urls.SUITE.recorder.key)
    return settings


def test_a_bypass_in_a_requests_atomic_raises_at_the_views_line_and_nothing_leaves(strict):
    scenario.check_raise(strict, urls.SUITE, "django_q", urls)


def test_warn_reports_the_call_site_once_and_the_message_leaves(strict):
    scenario.check_warn(strict, urls.SUITE, "django_q", urls)


def test_the_same_call_through_airlock_is_not_reported_and_runs(strict):
    scenario.check_through_airlock(strict, urls.SUITE, "django_q")
