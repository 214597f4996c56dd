"""Fixtures for the Celery suite; the app and its tasks are in tests/celery/app.py.

``published`` lists what actually left through Celery's publish path (``after_task_publish``).
Nothing here imports Celery at load time, so without it the suite's modules skip.
"""

from __future__ import annotations

import pytest

import airlock


@pytest.fixture(autouse=True)
def clean_state(fresh_configuration):
    """A default configuration per test (tests/conftest.py puts the previous one back)."""
    from tests.celery.app import ran

    ran.clear()
    yield
    assert airlock.get_current_scope() is None, "a test left a scope active"


@pytest.fixture
def published():
    """Each message Celery published during the test, as (task name, headers, body)."""
    from celery import signals

    seen: list[tuple[str, dict, object]] = []

    def receiver(sender=None, headers=None, body=None, **kwargs):
        seen.append((sender, headers, body))

    signals.after_task_publish.connect(receiver, weak=False)
    yield seen
    signals.after_task_publish.disconnect(receiver)
