"""A unit of work that finished refuses what is enqueued into it later, and an executor object
is the scope's executor even when it is falsy."""

from __future__ import annotations

import contextvars

import pytest

import airlock
from airlock.exceptions import ScopeStateError

from .conftest import notify, send_email


class Falsy:
    """An executor that is falsy (a queue wrapper with ``__len__``): still the executor."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, intent: airlock.Intent) -> None:
        self.calls.append(str(intent))

    def __len__(self) -> int:
        return 0


@pytest.mark.parametrize("where", ["given", "configured", "captured"])
def test_a_falsy_executor_is_still_the_executor(where):
    executor = Falsy()
    if where == "configured":
        airlock.configure(executor=executor)
    with airlock.scope(executor=executor if where == "given" else None):
        if where == "captured":
            with airlock.scope(executor=executor):
                airlock.enqueue(send_email, 1)
        else:
            airlock.enqueue(send_email, 1)
    assert executor.calls == ["send_email(1)"]


def _copies_its_context(saved: list[contextvars.Context], follow_up: bool):
    def task() -> None:
        if follow_up:
            airlock.enqueue(notify, 0)  # makes the task's own scope
        saved.append(contextvars.copy_context())

    return task


@pytest.mark.parametrize("follow_up", [False, True], ids=["enqueued-nothing", "enqueued"])
def test_an_enqueue_into_a_finished_task_from_a_context_it_copied_is_refused(follow_up, events):
    # A task run by sync_executor copies its context (as asyncio tasks and some thread pools
    # do) and that copy enqueues after the task returned: it must be refused, not buffered in
    # a scope nobody will finish (an intent with no fate).
    saved: list[contextvars.Context] = []
    with airlock.scope():
        airlock.enqueue(_copies_its_context(saved, follow_up))
    with pytest.raises(ScopeStateError, match=r"already finished|finished while"):
        saved[0].run(airlock.enqueue, send_email, 9)
    assert "send_email(9)" not in [name for _, name, _ in events]


@pytest.mark.parametrize("follow_up", [False, True], ids=["enqueued-nothing", "enqueued"])
def test_a_copied_context_may_open_a_scope_of_its_own_after_the_task_finished(follow_up):
    # The fix the error names works: the finished unit stands for no scope.
    saved: list[contextvars.Context] = []
    with airlock.scope():
        airlock.enqueue(_copies_its_context(saved, follow_up))
    ran: list[int] = []

    def late() -> None:
        with airlock.scope() as scope:
            assert airlock.get_current_scope() is scope
            airlock.enqueue(ran.append, 7)

    saved[0].run(late)
    assert ran == [7]
