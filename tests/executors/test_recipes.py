"""The recipes of docs/recipes.md (the seed documents' hand-written executors) as tests.

Celery runs on its in-memory broker: what reaches the broker is observed through Celery's own
``before_task_publish`` signal; what runs in this process is recorded by the tasks.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from typing import Any

import pytest

import airlock
from airlock.executors import (
    CircuitOpenError,
    batching,
    broadcast,
    compose,
    instrumented,
    logging_executor,
    route,
    thread_pool_executor,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from airlock.integrations.executors.sync import sync_executor
from tests.services import require_module

require_module("celery", "celery")

from celery import Celery  # noqa: E402
from celery.signals import before_task_publish  # noqa: E402

from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from tests.failures import raises_dispatch  # noqa: E402

app = Celery("airlock_toolkit_recipes", broker="memory://")
down = Celery("airlock_toolkit_down", broker="redis://127.0.0.1:1/0")
down.conf.update(
    broker_connection_retry=False,
    broker_connection_max_retries=0,
    task_publish_retry=False,
    broker_transport_options={"max_retries": 0},
)
ran_here: list[tuple[str, Any]] = []


@app.task
def resize_image(image_id: int) -> None:
    ran_here.append(("resize_image", image_id))


@app.task
def send_receipt(order_id: int) -> None:
    ran_here.append(("send_receipt", order_id))


@down.task
def invalidate_cache(key: str) -> None:
    ran_here.append(("invalidate_cache", key))


def update_counter(name: str) -> None:
    ran_here.append(("update_counter", name))


@pytest.fixture
def published() -> Iterator[list[dict[str, Any]]]:
    """Messages Celery handed to the broker: task name, id, and the delivery properties."""
    seen: list[dict[str, Any]] = []

    def record(sender: str, headers: dict[str, Any], properties: dict[str, Any], **kw: Any) -> None:
        seen.append({"task": sender.rsplit(".", 1)[-1], "id": headers["id"], **properties})

    before_task_publish.connect(record, weak=False)
    ran_here.clear()
    yield seen
    before_task_publish.disconnect(record)


def test_heavy_goes_to_the_queue_light_runs_now(published: list[dict[str, Any]]) -> None:
    by_weight = route({True: celery_executor}, by="heavy", default=sync_executor)
    with airlock.scope(executor=by_weight):
        airlock.enqueue(update_counter, "orders")
        heavy = airlock.enqueue(resize_image, 7, _dispatch_options={"heavy": True})
    assert ran_here == [("update_counter", "orders")]
    assert [(m["task"], m["id"]) for m in published] == [("resize_image", heavy.id)]


def test_priority_routing_runs_urgent_work_now_and_queues_the_rest_with_its_priority(
    published: list[dict[str, Any]],
) -> None:
    def lane(intent: airlock.Intent) -> str:
        return "now" if intent.dispatch_options.get("priority", 5) >= 8 else "queue"

    by_priority = route({"now": sync_executor, "queue": celery_executor}, by=lane)
    with airlock.scope(executor=by_priority):
        airlock.enqueue(send_receipt, 1, _dispatch_options={"priority": 9})
        airlock.enqueue(send_receipt, 2, _dispatch_options={"priority": 3})
    assert ran_here == [("send_receipt", 1)]
    assert [(m["task"], m["priority"]) for m in published] == [("send_receipt", 3)]


def test_hybrid_local_pool_and_remote_queue_by_task_name(published: list[dict[str, Any]]) -> None:
    local = thread_pool_executor(max_workers=2)
    hybrid = route({"resize_image": celery_executor}, default=local)
    with airlock.scope(executor=hybrid):
        airlock.enqueue(update_counter, "visits")
        airlock.enqueue(resize_image, 8)
    local.close()
    assert ran_here == [("update_counter", "visits")]
    assert local.statistics.completed == 1
    assert [m["task"] for m in published] == ["resize_image"]


def test_celery_then_sync_fallback_runs_here_and_the_breaker_stops_trying(
    published: list[dict[str, Any]],
) -> None:
    breaker = with_circuit_breaker(celery_executor, failures=3, reset_after=30)
    celery_or_here = with_fallback(breaker, sync_executor)
    with airlock.scope(executor=celery_or_here):
        for key in "abcde":
            airlock.enqueue(invalidate_cache, key)
    assert ran_here == [("invalidate_cache", k) for k in "abcde"]
    assert breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        breaker(airlock.Intent(task=invalidate_cache, args=("f",)))


def test_celery_then_sync_fallback_uses_the_broker_when_it_is_up(
    published: list[dict[str, Any]],
) -> None:
    with airlock.scope(executor=with_fallback(celery_executor, sync_executor)):
        airlock.enqueue(send_receipt, 4)
    assert ran_here == [] and [m["task"] for m in published] == ["send_receipt"]


def test_dry_run_logs_and_runs_nothing(
    published: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="airlock.dryrun")
    with airlock.scope(executor=logging_executor()):
        airlock.enqueue(send_receipt, 7, _dispatch_options={"queue": "mail"})
    assert ran_here == [] and published == []
    assert caplog.messages == [
        "airlock dry run: would run send_receipt(7) with options {'queue': 'mail'}"
    ]


def test_rate_limited_partner_api_waits_instead_of_failing() -> None:
    waits: list[float] = []
    calls: list[tuple[Any, ...]] = []
    polite = with_rate_limit(
        lambda i: calls.append(i.args), per_second=5, burst=5, clock=lambda: 0.0, sleep=waits.append
    )
    with airlock.scope(executor=polite):
        for n in range(7):
            airlock.enqueue(print, n)
    assert len(calls) == 7 and waits == pytest.approx([0.2, 0.4])


def test_batching_sends_full_batches_and_the_tail_after_the_flush() -> None:
    requests: list[int] = []

    class BulkEndpoint:
        def __call__(self, intent: airlock.Intent) -> None:
            self.send_batch([intent])

        def send_batch(self, intents: list[airlock.Intent]) -> None:
            requests.append(len(intents))

    with airlock.scope(executor=batching(BulkEndpoint(), size=50)):
        for n in range(120):
            airlock.enqueue(print, n)
    assert requests == [50, 50, 20]


def test_retry_resends_with_the_same_task_id(published: list[dict[str, Any]]) -> None:
    # Force two send failures of the real Celery executor: the memory broker cannot fail.
    failures = iter([True, True])

    def flaky_celery(intent: airlock.Intent) -> None:
        if next(failures, False):
            raise ConnectionError("connection reset")
        celery_executor(intent)

    slept: list[float] = []
    sending = with_retry(flaky_celery, attempts=5, backoff=0.2, sleep=slept.append)
    with airlock.scope(executor=sending):
        airlock.enqueue(send_receipt, 5, _key="receipt-5")
    assert [m["id"] for m in published] == ["receipt-5"]
    assert len(slept) == 2 and 0.2 <= slept[0] <= 0.22 and 0.4 <= slept[1] <= 0.44


def test_notify_everyone_even_when_one_channel_fails() -> None:
    email: list[Any] = []

    def slack_down(intent: airlock.Intent) -> None:
        raise ConnectionError("slack is down")

    with pytest.raises(airlock.DispatchError, match="1 of 3 executors failed"):
        with airlock.scope(
            executor=broadcast(lambda i: email.append(i.args), slack_down, sync_executor)
        ):
            airlock.enqueue(update_counter, "shipped")
    assert email == [("shipped",)]
    assert ran_here[-1] == ("update_counter", "shipped")


def test_careful_executor_reports_failures_and_still_stops_the_flush() -> None:
    failures: list[str] = []

    def broken(intent: airlock.Intent) -> None:
        raise ConnectionError("broker unreachable")

    watched = instrumented(broken, on_failure=lambda i, e, s: failures.append(f"{i}: {e}"))
    with raises_dispatch(ConnectionError):
        with airlock.scope(executor=watched):
            airlock.enqueue(send_receipt, 1)
            airlock.enqueue(send_receipt, 2)
    assert failures == ["send_receipt(1): broker unreachable"]  # fail-fast: 2 was not tried
    assert watched.statistics.failures == 1


def test_all_together_retries_opens_the_breaker_and_falls_back() -> None:
    from kombu.exceptions import OperationalError

    retrying = functools.partial(
        with_retry, attempts=2, retry_on=(OperationalError, ConnectionError), sleep=lambda s: None
    )
    harden = compose(
        retrying,
        functools.partial(with_circuit_breaker, failures=2, reset_after=30),
        functools.partial(with_rate_limit, per_second=1000),
    )
    hardened = harden(celery_executor)
    executor = with_fallback(hardened, sync_executor)
    with airlock.scope(executor=executor):
        for key in "xyz":
            airlock.enqueue(invalidate_cache, key)
    assert ran_here[-3:] == [("invalidate_cache", k) for k in "xyz"]
    # x: two real attempts opened the breaker; y and z failed fast (not retried).
    stats = hardened.statistics  # type: ignore[attr-defined]
    assert (stats.attempts, stats.retries, stats.give_ups) == (4, 1, 3)
