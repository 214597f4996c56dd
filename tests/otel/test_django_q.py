"""django-q2: the trace context rides in the task package; ``pre_execute`` receivers see it
(django-q2's synchronous mode runs the worker in this process)."""

from __future__ import annotations

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("django_q")

from django_q.signals import pre_execute
from opentelemetry import propagate, trace

import airlock
from airlock.integrations.executors.django_q import django_q_executor
from airlock.integrations.otel import DJANGO_Q_KEY
from tests.otel.conftest import Telemetry
from tests.queues import tasks

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("fresh_configuration")  # a plain Scope: sends at exit, no commit to wait
def test_the_worker_gets_the_trace_context_in_the_task(telemetry: Telemetry):
    seen: list[dict] = []

    def receiver(sender=None, func=None, task=None, **kwargs):
        seen.append(task)

    pre_execute.connect(receiver, weak=False, dispatch_uid="tests.otel")
    tasks.runs.clear()
    try:
        with telemetry.tracer.start_as_current_span("POST /checkout") as request:
            with airlock.scope(executor=django_q_executor):
                airlock.enqueue(tasks.record, "a", _dispatch_options={"sync": True})
    finally:
        pre_execute.disconnect(dispatch_uid="tests.otel")
    assert tasks.runs == [("a", (), {})]
    (task,) = seen
    carried = trace.get_current_span(propagate.extract(task[DJANGO_Q_KEY])).get_span_context()
    send = telemetry.one("send record")
    assert carried.trace_id == request.get_span_context().trace_id
    assert carried.span_id == send.context.span_id
    assert send.attributes["messaging.system"] == "django_q"
