"""A Celery app on kombu's in-memory transport: real publishing, no broker process.

``published`` lists what actually left through Celery's publish path (``after_task_publish``).
"""

from __future__ import annotations

import pytest

from tests.services import require_module

require_module("celery", "celery")

from celery import Celery, signals  # noqa: E402

import airlock  # noqa: E402

app = Celery(
    "airlock_tests", broker="memory://", backend="cache+memory://", set_as_current=False
)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=False)

ran: list[tuple[str, tuple[object, ...]]] = []


@app.task(name="tests.add")
def add(x: int, y: int = 0) -> int:
    ran.append(("add", (x, y)))
    return x + y


@app.task(name="tests.pickled", serializer="pickle")
def pickled(obj: object) -> None:
    ran.append(("pickled", (obj,)))


@pytest.fixture(autouse=True)
def clean_state(fresh_configuration):
    """A default configuration per test (tests/conftest.py puts the previous one back)."""
    ran.clear()
    yield
    assert airlock.get_current_scope() is None, "a test left a scope active"


@pytest.fixture
def published():
    """Each message Celery published during the test, as (task name, headers, body)."""
    seen: list[tuple[str, dict, object]] = []

    def receiver(sender=None, headers=None, body=None, **kwargs):
        seen.append((sender, headers, body))

    signals.after_task_publish.connect(receiver, weak=False)
    yield seen
    signals.after_task_publish.disconnect(receiver)
