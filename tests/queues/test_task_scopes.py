"""TaskScopes, behind every queue's task-body scoping hooks."""

from __future__ import annotations

import logging

import pytest

import airlock
from airlock.integrations._task_scopes import TaskFailed, TaskScopes


def test_success_flushes_failure_discards():
    sent: list[str] = []
    airlock.configure(executor=lambda intent: sent.append(intent.name))
    scopes = TaskScopes("test")
    scopes.start()
    airlock.enqueue(print, _name="kept")
    scopes.finish(None)
    scopes.start()
    airlock.enqueue(print, _name="dropped")
    scopes.finish(TaskFailed("boom"))
    assert sent == ["kept"]
    assert airlock.get_current_scope() is None


def test_a_scope_left_open_by_a_skipped_end_hook_is_discarded_at_the_next_start():
    sent: list[str] = []
    airlock.configure(executor=lambda intent: sent.append(intent.name))
    scopes = TaskScopes("test")
    stale = scopes.start()
    airlock.enqueue(print, _name="interrupted")
    fresh = scopes.start()  # the queue never called finish() for the first task
    assert stale.is_discarded and fresh.parent is None
    airlock.enqueue(print, _name="next")
    scopes.finish(None)
    assert sent == ["next"]


def test_a_failing_flush_is_logged_not_raised(caplog):
    def broken(intent):
        raise RuntimeError("broker down")

    airlock.configure(executor=broken)
    scopes = TaskScopes("test")
    scopes.start()
    airlock.enqueue(print)
    with caplog.at_level(logging.ERROR, logger="airlock"):
        scopes.finish(None)
    assert "flushing the scope of a test task failed" in caplog.text


def test_finish_without_start_does_nothing():
    TaskScopes("test").finish(None)


@pytest.fixture(autouse=True)
def _no_scope_left():
    yield
    assert airlock.get_current_scope() is None
