"""Task-body scoping: follow-ups leave when the task succeeds, never when it fails."""

from __future__ import annotations

import pytest

from tests.services import require_module

require_module("celery", "celery")


import airlock  # noqa: E402
from airlock.integrations.celery import ScopedTask, scope_all_tasks  # noqa: E402
from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from tests.celery.app import add, app  # noqa: E402


@app.task(name="tests.spawn", base=ScopedTask)
def spawn(fail: bool) -> None:
    airlock.enqueue(add, 1, _name="follow_up")
    if fail:
        raise RuntimeError("task failed after enqueueing")


@app.task(name="tests.plain_spawn")
def plain_spawn(fail: bool) -> None:
    airlock.enqueue(add, 2)
    if fail:
        raise RuntimeError("task failed after enqueueing")


@pytest.fixture(autouse=True)
def celery_default():
    airlock.configure(executor=celery_executor)


def test_scoped_task_success_sends_its_follow_up(published):
    result = spawn.apply(args=(False,))
    assert result.successful()
    assert [(name, list(body[0])) for name, _, body in published] == [("tests.add", [1])]


def test_scoped_task_failure_sends_nothing(published):
    result = spawn.apply(args=(True,))
    assert result.failed()
    assert published == []


def test_scoped_task_follow_ups_wait_for_an_enclosing_scope(published):
    with airlock.scope() as outer:
        spawn.apply(args=(False,))
        assert published == []
        assert [i.name for i in outer.intents] == ["follow_up"]
    assert len(published) == 1


def test_without_scoping_a_task_body_has_no_scope():
    result = plain_spawn.apply(args=(False,))
    assert isinstance(result.result, airlock.NoScopeError)


def test_signal_hooks_scope_every_task(published):
    disconnect = scope_all_tasks()
    try:
        assert plain_spawn.apply(args=(True,)).failed()
        assert published == []
        assert plain_spawn.apply(args=(False,)).successful()
        assert [list(body[0]) for _, _, body in published] == [[2]]
    finally:
        disconnect()
    assert isinstance(plain_spawn.apply(args=(False,)).result, airlock.NoScopeError)


@app.task(name="tests.parent")
def parent(fail: bool) -> None:
    airlock.enqueue(add, 10)
    assert plain_spawn.apply(args=(False,)).successful()  # runs eagerly, nested in this task
    if fail:
        raise RuntimeError("parent fails after its eager child succeeded")


@pytest.mark.parametrize("fail", [False, True])
def test_signal_hooks_handle_an_eager_task_inside_a_task(fail, published):
    disconnect = scope_all_tasks()
    try:
        assert parent.apply(args=(fail,)).failed() is fail
    finally:
        disconnect()
    # the child's follow-up was captured by the parent's scope: it shares the parent's fate
    expected = [] if fail else [[10], [2]]
    assert [list(body[0]) for _, _, body in published] == expected
    assert airlock.get_current_scope() is None
