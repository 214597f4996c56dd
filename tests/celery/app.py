"""A Celery app on kombu's in-memory transport, and its tasks: real publishing, no broker.

Importing this skips the importing test module when Celery is not installed (it is not a
conftest: a skip raised while loading a conftest aborts the run instead).
"""

from __future__ import annotations

from tests.services import require_module

require_module("celery", "celery")

from celery import Celery  # noqa: E402

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
