"""Each queue's apply-once decorator reads the id airlock's executor sent, with the queue's own
in-process machinery: Celery eager ``apply_async``, dramatiq's StubBroker and Worker, huey's
MemoryHuey, django-q2's synchronous mode, Django tasks' ImmediateBackend. Sending one intent
twice (as the relay does after a crash) applies it once; another key applies again."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

import airlock
from airlock.exceptions import UsageError
from airlock.integrations.django.inbox import (
    celery_apply_once,
    dramatiq_apply_once,
    huey_apply_once,
)
from airlock.integrations.django.inbox.models import InboxMessage
from tests.queues import inbox_tasks

applied = inbox_tasks.applied


@pytest.fixture(autouse=True)
def _clear() -> None:
    applied.clear()


def send_twice(executor: Callable[[airlock.Intent], Any], task: Any, key: str, *args: Any) -> None:
    """One intent sent twice, as after a crash: the same key, the same id."""
    intent = airlock.Intent(task=task, args=args, key=key)
    executor(intent)
    executor(intent)


def stored() -> list[tuple[str, str]]:
    return sorted(InboxMessage.objects.values_list("message_id", "task"))


@pytest.mark.django_db
def test_celery_reads_the_task_id() -> None:
    pytest.importorskip("celery")
    from celery import Celery

    from airlock.integrations.executors.celery import celery_executor

    app = Celery("inbox-tests", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=True)

    @app.task(name="inbox.charge")
    @celery_apply_once
    def charge(order_id: int) -> str:
        applied.append(("celery", order_id))
        return f"charged {order_id}"

    send_twice(celery_executor, charge, "order-1", 1)
    send_twice(celery_executor, charge, "order-2", 2)
    assert applied == [("celery", 1), ("celery", 2)]
    assert [m for m, _ in stored()] == ["order-1", "order-2"]
    assert stored()[0][1].endswith("test_celery_reads_the_task_id.<locals>.charge")
    assert charge.apply((3,), task_id="order-1").result is None  # a duplicate returns None
    assert charge.apply((3,), task_id="order-3").result == "charged 3"
    with pytest.raises(UsageError, match="without a Celery message id"):
        charge(4)  # called directly: no message
    with pytest.raises(TypeError, match="argument"):
        charge.delay(5, 6)  # Celery still checks the arguments against the function's
    assert applied == [("celery", 1), ("celery", 2), ("celery", 3)]


@pytest.fixture
def stub_broker() -> Iterator[Any]:
    pytest.importorskip("dramatiq")
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.middleware import CurrentMessage

    broker = StubBroker()
    broker.emit_after("process_boot")
    broker.add_middleware(CurrentMessage())
    yield broker
    broker.flush_all()
    broker.close()


def run_dramatiq(broker: Any) -> None:
    import dramatiq

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join("inbox_q", fail_fast=True)
        worker.join()
    finally:
        worker.stop()


@pytest.mark.django_db(transaction=True)  # the worker thread has a connection of its own
def test_dramatiq_reads_the_message_id(stub_broker: Any) -> None:
    import dramatiq

    from airlock.integrations.executors.dramatiq import dramatiq_executor

    @dramatiq_apply_once
    def charge(order_id: int) -> None:
        applied.append(("dramatiq", order_id))

    actor = dramatiq.actor(charge, broker=stub_broker, queue_name="inbox_q", max_retries=0)
    send_twice(dramatiq_executor, actor, "order-1", 1)
    send_twice(dramatiq_executor, actor, "order-2", 2)
    run_dramatiq(stub_broker)
    assert applied == [("dramatiq", 1), ("dramatiq", 2)]
    assert [m for m, _ in stored()] == ["order-1", "order-2"]


def test_dramatiq_without_current_message_names_the_middleware() -> None:
    pytest.importorskip("dramatiq")

    @dramatiq_apply_once
    def charge(order_id: int) -> None: ...

    with pytest.raises(UsageError, match=r"add dramatiq\.middleware\.CurrentMessage\(\)"):
        charge(1)


@pytest.mark.django_db
def test_huey_reads_the_task_id() -> None:
    pytest.importorskip("huey")
    from huey import MemoryHuey

    from airlock.integrations.executors.huey import huey_executor

    huey = MemoryHuey("inbox-tests", immediate=True)

    @huey.task(context=True)
    @huey_apply_once
    def charge(order_id: int) -> None:
        applied.append(("huey", order_id))

    @huey.task()
    @huey_apply_once
    def no_context(order_id: int) -> None: ...

    send_twice(huey_executor, charge, "order-1", 1)
    send_twice(huey_executor, charge, "order-2", 2)
    assert applied == [("huey", 1), ("huey", 2)]
    assert [m for m, _ in stored()] == ["order-1", "order-2"]
    with pytest.raises(UsageError, match=r"@huey\.task\(context=True\)"):
        no_context.call_local(1)


@pytest.mark.django_db(databases=["default", "other"])
def test_huey_using_another_database_passes_task_on_when_asked() -> None:
    pytest.importorskip("huey")
    from huey import MemoryHuey

    from airlock.integrations.executors.huey import huey_executor

    huey = MemoryHuey("inbox-tests", immediate=True)

    @huey.task(context=True)
    @huey_apply_once(using="other")
    def refund(order_id: int, task: Any = None) -> None:
        applied.append(("huey refund", task.id))

    send_twice(huey_executor, refund, "refund-1", 1)
    assert applied == [("huey refund", "refund-1")]
    assert InboxMessage.objects.using("other").get().message_id == "refund-1"
    assert not InboxMessage.objects.using("default").exists()


@pytest.mark.django_db
def test_django_q_reads_the_task_name() -> None:
    pytest.importorskip("django_q")
    from airlock.integrations.executors.django_q import django_q_executor

    task = inbox_tasks.q_charge
    for key, order in (("order-1", 1), ("order-2", 2)):
        intent = airlock.Intent(task=task, args=(order,), key=key, dispatch_options={"sync": True})
        django_q_executor(intent)
        django_q_executor(intent)
    assert applied == [("django-q2", 1), ("django-q2", 2)]
    assert [m for m, _ in stored()] == ["order-1", "order-2"]
    with pytest.raises(UsageError, match="without a django-q2 message id"):
        task(3)  # outside a worker: no task name was handed over


@pytest.mark.django_db
def test_django_tasks_get_the_id_as_a_keyword_argument(settings: Any) -> None:
    task = inbox_tasks.charge_task
    if task is None:
        pytest.skip("neither django.tasks nor django-tasks installed")
    from airlock.integrations.executors.django_tasks import django_tasks_executor

    module = task.__class__.__module__.split(".")[0]
    backend = "django.tasks" if module == "django" else module
    settings.TASKS = {"default": {"BACKEND": f"{backend}.backends.immediate.ImmediateBackend"}}
    send_twice(django_tasks_executor, task, "order-1", 1)
    send_twice(django_tasks_executor, task, "order-2", 2)
    assert applied == [("django-tasks", 1), ("django-tasks", 2)]
    assert [m for m, _ in stored()] == ["order-1", "order-2"]
    assert task.enqueue(3, airlock_message_id="order-1").return_value is None  # duplicate
    failed = task.enqueue(4)  # no id: the task fails, saying how to pass one
    assert failed.status.name == "FAILED" and applied[-1] == ("django-tasks", 2)
    assert "airlock_message_id" in str(failed.errors[0].traceback)
