"""Strict mode with Django's tasks framework (``django.tasks`` on Django 6+, the backport on
5.2) and its DummyBackend: ``enqueue`` and ``aenqueue`` are watched."""

from __future__ import annotations

import importlib

import pytest

from tests.queues import tasks

if not tasks.DJANGO_TASKS:
    pytest.skip("neither django.tasks nor django-tasks installed", allow_module_level=True)

import airlock
from airlock.exceptions import StrictModeError
from airlock.integrations.executors.django_tasks import django_tasks_executor
from tests.strict.suite import Case, StrictSuite, call_sites, site


@pytest.fixture(params=sorted(tasks.DJANGO_TASKS))
def case(request, settings) -> Case:
    framework = request.param
    declared = importlib.import_module(tasks.DJANGO_TASKS[framework])
    settings.TASKS = {"default": {"BACKEND": f"{framework}.backends.dummy.DummyBackend"}}
    backend = importlib.import_module(framework).task_backends["default"]
    base = importlib.import_module(f"{framework}.base")
    task = declared.record_task

    def originals() -> list[bool]:
        return [
            getattr(base.Task, name).__module__ == base.__name__ for name in ("enqueue", "aenqueue")
        ]

    return Case(
        bypass=lambda: task.enqueue("x"),  # BYPASS
        bypass_again=lambda: task.using(priority=3).enqueue("y"),  # BYPASS
        sites=call_sites(__file__),
        task=task,
        executor=django_tasks_executor,
        sent=lambda: len(backend.results),
        originals=originals,
    )


class TestDjangoTasks(StrictSuite):
    pass


async def test_aenqueue_is_reported_where_it_is_awaited(case):
    airlock.configure(strict="raise")
    with airlock.scope():
        with pytest.raises(StrictModeError) as error:
            await case.task.aenqueue("z")  # AWAITED
    assert site(error.value) == call_sites(__file__, "# AWAITED")[0]
