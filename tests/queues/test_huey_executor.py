"""huey_executor and scope_tasks on a real MemoryHuey (in-process storage), run by its own code."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

pytest.importorskip("huey")

from huey import MemoryHuey

import airlock
from airlock.exceptions import UnknownOptionError
from airlock.integrations.executors.huey import huey_executor
from airlock.integrations.huey import scope_tasks

runs: list[tuple[object, ...]] = []


@pytest.fixture
def huey() -> MemoryHuey:
    runs.clear()
    return MemoryHuey("airlock-tests", utc=True)


@pytest.fixture
def record(huey: MemoryHuey):
    @huey.task()
    def record(label: str, *args: object, **kwargs: object) -> None:
        runs.append((label, args, kwargs))

    return record


def drain(huey: MemoryHuey) -> None:
    """Execute what is pending, as a consumer would (scheduled tasks are left alone)."""
    while True:
        task = huey.dequeue()
        if task is None:
            return
        if task.eta is not None and task.eta > datetime.now(timezone.utc).replace(tzinfo=None):
            huey.add_schedule(task)
            continue
        huey.execute(task)


def test_enqueues_with_key_as_task_id_and_kwargs_named_like_options(huey, record):
    with airlock.scope(executor=huey_executor):
        airlock.enqueue(record, "a", 1, priority="kwarg, not an option", _key="order-7")
        intent = airlock.enqueue(record, "b")
        assert huey.pending_count() == 0
    ids = [t.id for t in huey.pending()]
    assert ids == ["order-7", intent.id]
    drain(huey)
    assert runs == [("a", (1,), {"priority": "kwarg, not an option"}), ("b", (), {})]


def test_delay_becomes_absolute_eta_at_enqueue(huey, record):
    with airlock.scope(executor=huey_executor):
        before = datetime.now(timezone.utc)
        intent = airlock.enqueue(record, "later", _dispatch_options={"delay": 60})
        eta = intent.dispatch_options["eta"]
        assert "delay" not in intent.dispatch_options
        assert before + timedelta(seconds=59) < eta < before + timedelta(seconds=61)
    (task,) = huey.pending()
    assert task.eta == eta.astimezone(timezone.utc).replace(tzinfo=None)
    drain(huey)
    assert runs == [] and huey.scheduled_count() == 1


def test_priority_and_eta_options(huey, record):
    eta = datetime.now(timezone.utc) + timedelta(hours=1)
    with airlock.scope(executor=huey_executor):
        airlock.enqueue(record, "p", _dispatch_options={"priority": 9, "retries": 2})
        airlock.enqueue(record, "e", _dispatch_options={"eta": eta})
    by_label = {t.args[0]: t for t in huey.pending()}
    assert by_label["p"].priority == 9 and by_label["p"].retries == 2
    assert by_label["e"].eta == eta.replace(tzinfo=None)


def test_unknown_option_fails_at_enqueue(huey, record):
    with airlock.scope(executor=huey_executor) as scope:
        with pytest.raises(UnknownOptionError, match=r"unknown huey dispatch option 'queue'"):
            airlock.enqueue(record, "a", _dispatch_options={"queue": "x"})
        assert scope.intents == []


@pytest.mark.parametrize("name", ["huey_executor", "huey_batch_executor"])
def test_a_named_huey_executor_takes_intents_routed_to_it(huey, record, name):
    # Its prepare() sees the routing option: airlock's own, not an unknown huey option.
    from airlock.integrations.executors import huey as module

    airlock.configure(executors={"queue": getattr(module, name)})
    with airlock.scope():
        airlock.enqueue(record, "routed", _dispatch_options={"executor": "queue", "retries": 1})
        assert huey.pending_count() == 0
    (task,) = huey.pending()
    assert task.retries == 1
    drain(huey)
    assert runs == [("routed", (), {})]


def test_unpicklable_argument_fails_at_enqueue_naming_it(huey, record):
    with airlock.scope(executor=huey_executor) as scope:
        with pytest.raises(TypeError, match=r"argument 'lock' \(lock.*pickle"):
            airlock.enqueue(record, "a", lock=threading.Lock())
        with pytest.raises(TypeError, match=r"argument 1 \(function"):
            airlock.enqueue(record, "a", lambda: None)
        assert scope.intents == []


def test_plain_function_runs_synchronously(huey):
    seen = []
    with airlock.scope(executor=huey_executor):
        airlock.enqueue(seen.append, 1)
    assert seen == [1]


def test_scope_tasks_sends_follow_up_only_when_the_task_succeeds(huey, record):
    airlock.configure(executor=huey_executor)

    @huey.task()
    def parent(label: str, fail: bool = False) -> None:
        airlock.enqueue(record, f"{label}-child")
        if fail:
            raise RuntimeError("parent failed after enqueueing")

    remove = scope_tasks(huey)
    parent("bad", fail=True)
    parent("ok")
    drain(huey)
    assert runs == [("ok-child", (), {})]
    remove()
    parent("unscoped")
    drain(huey)  # without the hooks the task body has no scope
    assert runs == [("ok-child", (), {})]


def test_priority_is_refused_at_enqueue_when_the_storage_has_no_priorities() -> None:
    pytest.importorskip("redis")
    from huey import PriorityRedisHuey, RedisHuey

    from tests.queues import tasks

    plain = RedisHuey("airlock-no-priority").task()(tasks.record)
    with airlock.scope(executor=huey_executor, policy="airlock.DropAll") as s:  # sends nothing
        with pytest.raises(UnknownOptionError, match="'priority' needs a storage with priorities"):
            airlock.enqueue(plain, "a", _dispatch_options={"priority": 5})
        assert s.intents == []
        ranked = PriorityRedisHuey("airlock-priority").task()(tasks.record)
        airlock.enqueue(ranked, "b", _dispatch_options={"priority": 5})  # accepted
        assert len(s.intents) == 1
