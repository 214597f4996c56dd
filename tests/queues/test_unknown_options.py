"""Every executor refuses a dispatch option it does not know, with one error type, at enqueue.

``UnknownOptionError`` (a ``UsageError`` and a ``TypeError``), naming the option, suggesting the
close known one and listing the known ones, whether the executor is used directly, through a
wrapper or by name; every option it declares passes that check. Nothing is sent here: the
scopes drop what they hold (``DropAll``), so the queues' in-memory backends are enough.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import airlock
from airlock.exceptions import UnknownOptionError, UsageError
from airlock.executors import (
    batching,
    broadcast,
    compose,
    instrumented,
    logging_executor,
    process_pool_executor,
    route,
    thread_pool_executor,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from airlock.executors._base import buffers
from airlock.integrations.executors.sync import sync_executor
from tests.queues import tasks

DROP = "airlock.DropAll"  # the scopes below prepare (check) what is enqueued and send nothing


@dataclass
class Case:
    executor: Any
    task: Any
    typo: str  # a misspelt option ...
    meant: str | None  # ... and the known one it is close to (None: the executor takes none)
    valid: dict[str, Any] = field(default_factory=dict)  # real options of the library


def huey_case(name: str) -> Callable[[pytest.FixtureRequest], Case]:
    def make(request: pytest.FixtureRequest) -> Case:
        pytest.importorskip("huey")
        from huey import MemoryHuey

        from airlock.integrations.executors import huey as module

        task = MemoryHuey("airlock-options", utc=True).task()(tasks.record)
        valid = {"delay": 5, "retries": 2, "retry_delay": 1, "expires": 60, "id": "x"}
        return Case(getattr(module, name), task, "retires", "retries", valid)

    return make


def django_tasks_case(request: pytest.FixtureRequest) -> Case:
    if not tasks.DJANGO_TASKS:
        pytest.skip("no Django tasks framework installed")
    from airlock.integrations.executors.django_tasks import django_tasks_executor

    settings = request.getfixturevalue("settings")
    framework, module = next(iter(tasks.DJANGO_TASKS.items()))
    settings.TASKS = {"default": {"BACKEND": f"{framework}.backends.dummy.DummyBackend"}}
    task = importlib.import_module(module).record_task
    valid = {"priority": 1, "queue_name": "default", "run_after": 30}
    return Case(django_tasks_executor, task, "priorty", "priority", valid)


def ray_case(request: pytest.FixtureRequest) -> Case:
    pytest.importorskip("ray")  # prepare() only: no Ray runtime is started
    from airlock.integrations.executors.ray import ray_executor

    valid = {"num_cpus": 1, "max_retries": 2, "name": "job"}
    return Case(ray_executor(), tasks.record, "num_cpu", "num_cpus", valid)


def celery_case(name: str) -> Callable[[pytest.FixtureRequest], Case]:
    def make(request: pytest.FixtureRequest) -> Case:
        pytest.importorskip("celery")
        from airlock.integrations.executors import celery as module
        from tests.celery.app import add  # a Celery app on a memory:// broker

        valid = {
            "queue": "mail", "countdown": 5, "priority": 3, "routing_key": "mail",
            "exchange": "", "headers": {"tenant": 7}, "expires": 60, "retry": False,
            "retry_policy": {"max_retries": 1}, "shadow": "add-shadow", "serializer": "json",
            "compression": "zlib", "time_limit": 10, "soft_time_limit": 5,
            "ignore_result": True, "task_id": "t-1", "delivery_mode": 2,
        }  # fmt: skip
        return Case(getattr(module, name), add, "prioritty", "priority", valid)

    return make


def dramatiq_case(name: str) -> Callable[[pytest.FixtureRequest], Case]:
    def make(request: pytest.FixtureRequest) -> Case:
        pytest.importorskip("dramatiq")
        import dramatiq
        from dramatiq.brokers.stub import StubBroker

        from airlock.integrations.executors import dramatiq as module

        broker = StubBroker()
        request.addfinalizer(broker.close)
        actor = dramatiq.actor(tasks.record, broker=broker, queue_name="q_options")
        valid = {
            "delay": 1000, "max_retries": 0, "min_backoff": 10, "max_backoff": 100,
            "time_limit": 1000, "max_age": 60000, "queue_name": "q_other",
            "on_success": actor, "notify_shutdown": True, "message_id": "m-1",
        }  # fmt: skip
        return Case(getattr(module, name), actor, "max_retires", "max_retries", valid)

    return make


def django_q_case(request: pytest.FixtureRequest) -> Case:
    pytest.importorskip("django_q")
    from airlock.integrations.executors.django_q import django_q_executor

    valid = {
        "group": "g", "timeout": 30, "hook": "tests.queues.tasks.record", "save": False,
        "task_name": "n", "ack_failure": True, "cached": False, "sync": False,
    }  # fmt: skip
    return Case(django_q_executor, tasks.record, "tiemout", "timeout", valid)


def lambda_case(request: pytest.FixtureRequest) -> Case:
    pytest.importorskip("boto3")  # the client is made on first send: never here
    from airlock.integrations.executors.aws_lambda import lambda_executor

    executor = lambda_executor("mailer", region_name="eu-west-1")
    return Case(executor, tasks.record, "functoin", "function", {"function": "thumbnails"})


def webhook_case(request: pytest.FixtureRequest) -> Case:
    from airlock.integrations.executors.webhook import webhook_executor

    executor = webhook_executor("http://127.0.0.1:9/hook", secret="s3cret")
    return Case(executor, tasks.record, "ulr", "url", {"url": "https://example.test/hook"})


def pool_case(make_pool: Callable[[], Any]) -> Callable[[pytest.FixtureRequest], Case]:
    def make(request: pytest.FixtureRequest) -> Case:
        pool = make_pool()
        request.addfinalizer(pool.close)
        return Case(pool, tasks.record, "prioritty", None)

    return make


CASES: dict[str, Callable[[pytest.FixtureRequest], Case]] = {
    "huey_executor": huey_case("huey_executor"),
    "huey_batch_executor": huey_case("huey_batch_executor"),
    "django_tasks_executor": django_tasks_case,
    "ray_executor": ray_case,
    "celery_executor": celery_case("celery_executor"),
    "celery_batch_executor": celery_case("celery_batch_executor"),
    "dramatiq_executor": dramatiq_case("dramatiq_executor"),
    "dramatiq_batch_executor": dramatiq_case("dramatiq_batch_executor"),
    "django_q_executor": django_q_case,
    "lambda_executor": lambda_case,
    "webhook_executor": webhook_case,
    "thread_pool_executor": pool_case(lambda: thread_pool_executor(1)),
    "process_pool_executor": pool_case(lambda: process_pool_executor(1)),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param](request)


def refused(executor: Any, case: Case, **options: Any) -> UnknownOptionError:
    """Enqueue ``case.task`` with the typo through ``executor``; return the error raised."""
    with airlock.scope(executor=executor, policy=DROP) as scope:
        with pytest.raises(UnknownOptionError) as caught:
            airlock.enqueue(case.task, "a", _dispatch_options={case.typo: 1, **options})
        assert scope.intents == []
    return caught.value


def test_a_typo_is_the_same_error_for_every_executor_naming_the_close_option(case):
    error = refused(case.executor, case)
    assert isinstance(error, UsageError) and isinstance(error, TypeError)
    assert error.unknown == [case.typo] and case.typo not in error.known
    assert "unknown" in str(error) and repr(case.typo) in str(error)
    if case.meant is None:
        assert error.known == [] and error.suggestions == {}
        assert "takes no dispatch options" in str(error)
    else:
        assert case.meant in error.known and error.suggestions == {case.typo: case.meant}
        assert f"(did you mean {case.meant!r}?)" in str(error)
        assert set(error.known) == set(case.executor.known_options)


WRAPPERS: dict[str, Callable[[Any], Any]] = {
    "with_retry": functools.partial(with_retry, attempts=2),
    "with_rate_limit": functools.partial(with_rate_limit, per_second=1000),
    "with_circuit_breaker": with_circuit_breaker,
    "instrumented": instrumented,
    "batching": functools.partial(batching, size=10),
    "compose": compose(
        functools.partial(with_retry, attempts=2),
        instrumented,
        functools.partial(with_rate_limit, per_second=1000),
    ),
    "route": lambda executor: route({}, default=executor),
    "route by option": lambda executor: route({"fast": executor}, by="lane", default=executor),
    "with_fallback": lambda executor: with_fallback(executor, logging_executor(like=executor)),
    "broadcast": lambda executor: broadcast(executor),
    "logging_executor(like=...)": lambda executor: logging_executor(like=executor),
}


@pytest.mark.parametrize("wrap", sorted(WRAPPERS))
def test_a_wrapper_does_not_change_the_error(case, wrap):
    if wrap == "batching" and buffers(case.executor):  # a batched executor batches itself
        with pytest.raises(TypeError, match="cannot wrap"):
            WRAPPERS[wrap](case.executor)
        return
    wrapped = WRAPPERS[wrap](case.executor)
    error = refused(wrapped, case)
    assert error.unknown == [case.typo]
    known = wrapped.known_options
    assert known is not None and case.typo not in known
    assert set(case.executor.known_options) <= set(known)


def test_by_name_the_error_is_the_same(case):
    airlock.register_executor("queue", case.executor)
    airlock.register_executor("wrapped", with_retry(case.executor, attempts=2))
    for name in ("queue", "wrapped"):
        with airlock.scope(policy=DROP) as scope:  # the default executor: sync_executor
            with pytest.raises(UnknownOptionError, match=repr(case.typo)):
                airlock.enqueue(case.task, "a", _dispatch_options={"executor": name,
                                                                   case.typo: 1})
            assert scope.intents == []


def test_every_declared_option_passes_the_check(case):
    """Each name in ``known_options`` gets past the option check (a value the executor then
    finds wrong for that option is another error, about the value)."""
    for name in sorted(case.executor.known_options):
        with airlock.scope(executor=case.executor, policy=DROP):
            try:
                airlock.enqueue(case.task, "a", _dispatch_options={name: None})
            except UnknownOptionError as exc:  # pragma: no cover - the failure reported
                pytest.fail(f"{case.executor!r} refused its own option {name!r}: {exc}")
            except (TypeError, ValueError):
                pass  # None is not a valid value for every option: not what is tested here


def test_real_options_of_the_library_are_accepted_directly_and_wrapped(case):
    like = logging_executor(like=case.executor)
    for executor in (case.executor, with_retry(case.executor), like):
        with airlock.scope(executor=executor, policy=DROP) as scope:
            airlock.enqueue(case.task, "a", _dispatch_options=dict(case.valid))
        assert len(scope.intents) == 1
        assert set(scope.intents[0].dispatch_options) <= set(case.valid) | {"eta"}


def test_broadcast_and_fallback_refuse_only_what_no_target_knows(case):
    from airlock.integrations.executors.webhook import webhook_executor

    hook = webhook_executor("http://127.0.0.1:9/hook", secret="s3cret")
    options = {**case.valid, "url": "https://example.test/other"}
    for group in (broadcast(case.executor, hook), with_fallback(case.executor, hook)):
        with airlock.scope(executor=group, policy=DROP) as scope:
            airlock.enqueue(case.task, "a", _dispatch_options=options)
            with pytest.raises(UnknownOptionError, match=repr(case.typo)):
                airlock.enqueue(case.task, "a", _dispatch_options={case.typo: 1})
        assert len(scope.intents) == 1


def test_a_plain_function_the_queue_would_run_inline_is_checked_too(case):
    plain = Case(case.executor, tasks.record, case.typo, case.meant)
    assert refused(case.executor, plain).unknown == [case.typo]


def test_ray_executor_options_are_checked_when_it_is_built():
    pytest.importorskip("ray")
    from airlock.integrations.executors.ray import ray_executor

    with pytest.raises(UnknownOptionError, match=r"ray_executor\(\): unknown Ray task options"):
        ray_executor(cpus=1, gpus=1)


# The executors that accept every option, on purpose.


def test_sync_executor_accepts_and_ignores_any_option():
    """It stands in for the production queue in development: that queue's options must pass."""
    with airlock.scope(executor=sync_executor):
        airlock.enqueue(tasks.record, "s", _dispatch_options={"countdown": 5, "prioritty": 1})
    assert tasks.runs[-1] == ("s", (), {})


def test_logging_executor_without_like_accepts_and_logs_any_option(caplog):
    with caplog.at_level(logging.INFO, logger="airlock.dryrun"):
        with airlock.scope(executor=logging_executor()):
            airlock.enqueue(tasks.record, "d", _dispatch_options={"prioritty": 1})
    assert "would run" in caplog.text and "'prioritty': 1" in caplog.text


class Declares:
    """An executor of a user's: declares its options, has no ``prepare``."""

    known_options = frozenset({"lane"})

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def __call__(self, intent: Any) -> None:
        self.sent.append(dict(intent.dispatch_options))


def test_a_user_executor_declaring_options_without_prepare_is_checked_through_wrappers():
    executor = Declares()
    for wrapped in (with_retry(executor), instrumented(executor), route({}, default=executor)):
        with airlock.scope(executor=wrapped) as scope:
            airlock.enqueue(tasks.record, "a", _dispatch_options={"lane": "fast"})
            with pytest.raises(UnknownOptionError, match=r"'lnae' \(did you mean 'lane'\?\)"):
                airlock.enqueue(tasks.record, "b", _dispatch_options={"lnae": "fast"})
        assert len(scope.intents) == 1
    assert executor.sent == [{"lane": "fast"}] * 3
