"""Strict mode with django-q2 in its synchronous mode: ``async_task`` is watched (through its
``pre_enqueue`` signal, so ``from django_q.tasks import async_task`` is covered too)."""

from __future__ import annotations

import pytest

pytest.importorskip("django_q")

from django_q.signals import pre_enqueue
from django_q.tasks import async_task

from airlock.integrations.executors.django_q import django_q_executor
from tests.queues import tasks
from tests.strict.suite import Case, StrictSuite, call_sites

pytestmark = pytest.mark.django_db


@pytest.fixture
def case() -> Case:
    tasks.runs.clear()

    def originals() -> list[bool]:
        return [not any(entry[0][0] == "airlock.strict" for entry in pre_enqueue.receivers)]

    return Case(
        bypass=lambda: async_task(tasks.record, "x", sync=True),  # BYPASS
        bypass_again=lambda: async_task(tasks.record, "y", q_options={"sync": True}),  # BYPASS
        sites=call_sites(__file__),
        task=tasks.record,
        executor=lambda intent: django_q_executor(intent.replace(dispatch_options={"sync": True})),
        sent=lambda: len(tasks.runs),
        originals=originals,
    )


class TestDjangoQ(StrictSuite):
    pass
