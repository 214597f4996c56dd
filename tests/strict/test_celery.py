"""Strict mode with Celery on kombu's in-memory transport (tests/celery/app.py): real publishes."""

from __future__ import annotations

import pytest

pytest.importorskip("celery")

import airlock
from airlock.exceptions import StrictModeError
from airlock.integrations import celery as airlock_celery
from airlock.integrations.celery import ScopedTask
from airlock.integrations.executors.celery import celery_executor
from tests.celery.app import add, app
from tests.strict.suite import Case, StrictSuite, call_sites, site

SITES = call_sites(__file__)
published: list[str] = []


def _on_publish(sender: str | None = None, **_: object) -> None:
    published.append(str(sender))


@pytest.fixture(autouse=True)
def _count_publishes():
    from celery import signals

    published.clear()
    signals.after_task_publish.connect(_on_publish, weak=False)
    yield
    signals.after_task_publish.disconnect(_on_publish)


def _originals() -> list[bool]:
    from celery.app.base import Celery
    from celery.app.task import Task

    return [
        Celery.send_task.__module__ == "celery.app.base",
        Task.apply.__module__ == "celery.app.task",
    ]


@pytest.fixture
def case() -> Case:
    return Case(
        bypass=lambda: add.delay(1),  # BYPASS
        bypass_again=lambda: add.apply_async((2,)),  # BYPASS
        sites=SITES,
        task=add,
        executor=celery_executor,
        args=(3,),
        sent=lambda: len(published),
        originals=_originals,
    )


class TestCelery(StrictSuite):
    pass


def both(call):
    """Run ``call`` in a scope with strict mode "raise"; return the error's call site."""
    airlock.configure(strict="raise")
    with airlock.scope(), pytest.raises(StrictModeError) as error:
        call()
    return site(error.value), str(error.value)


def test_send_task_and_canvas_are_reported_too():
    from celery import chain, group

    where, message = both(lambda: app.send_task("tests.add", (1,)))  # CANVAS
    assert where == call_sites(__file__, "# CANVAS")[0] and "celery send_task()" in message
    where, message = both(lambda: add.s(1).apply_async())  # SIGNATURE
    assert where == call_sites(__file__, "# SIGNATURE")[0]
    where, _ = both(lambda: group(add.s(1), add.s(2)).apply_async())  # GROUP
    assert where == call_sites(__file__, "# GROUP")[0]
    where, _ = both(lambda: chain(add.s(1), add.s(2)).delay())  # CHAIN
    assert where == call_sites(__file__, "# CHAIN")[0]
    assert published == []


@pytest.fixture
def eager():
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_eager_mode_is_reported_like_a_publish(eager):
    where, message = both(lambda: add.delay(5))  # EAGER
    assert where == call_sites(__file__, "# EAGER")[0] and "celery delay()" in message
    with airlock.scope():  # calling apply() yourself runs the task here: not a publish
        assert add.apply((1, 2)).get() == 3


@app.task(name="tests.strict.retrying", bind=True, base=ScopedTask, max_retries=1)
def retrying(self, attempts: list[int]) -> str:
    attempts.append(self.request.retries)
    if self.request.retries == 0:
        raise self.retry(countdown=0)
    return "done"


def test_celery_own_retry_is_not_reported():
    # apply() runs the task here; its retry (run again by Celery's apply, inside the outer
    # scope) is Celery's own. A worker's retry (Task.retry publishing) is in the e2e suite.
    airlock.configure(strict="raise")
    attempts: list[int] = []
    with airlock.scope():
        assert retrying.apply((attempts,)).get() == "done"
    assert attempts == [0, 1]


def test_the_migration_intercept_holds_the_call_and_its_flush_is_not_reported():
    airlock.configure(strict="raise")
    airlock_celery.install()
    try:
        with pytest.warns(DeprecationWarning), airlock.scope():
            add.delay(7)
            assert published == []
        assert published == ["tests.add"]
    finally:
        airlock_celery.uninstall()


@pytest.mark.django_db
def test_a_custom_executor_marks_its_publishes_with_sending():
    from django.db import transaction

    from airlock.executors import sending

    def plain(intent):
        intent.task.delay(*intent.args)  # CUSTOM EXECUTOR

    def marked(intent):
        with sending():
            intent.task.delay(*intent.args)

    airlock.configure(strict="raise")
    with pytest.raises(airlock.DispatchError) as error:
        with transaction.atomic(), airlock.scope(executor=plain):
            airlock.enqueue(add, 1)
    assert isinstance(error.value.__cause__, StrictModeError)
    assert site(error.value.__cause__) == call_sites(__file__, "# CUSTOM EXECUTOR")[0]
    with transaction.atomic(), airlock.scope(executor=marked):
        airlock.enqueue(add, 2)
    assert published == ["tests.add"]
