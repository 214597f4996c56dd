"""The batched Celery path on Redis sends exactly what apply_async sends, and says what failed.

Real Redis (DB 9), a real Celery app; messages are read back from the broker's lists.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import airlock
from airlock import Intent
from airlock.exceptions import DispatchError
from tests.perf.conftest import DB, clock_figure, drain, fates_of_an_interrupted_flush, interrupt
from tests.services import redis_url, require_module

require_module("celery", "celery")

from celery import Celery, signals  # noqa: E402

from airlock.integrations.executors import BatchDispatchError  # noqa: E402
from airlock.integrations.executors.celery import CeleryBatchExecutor, send  # noqa: E402

pytestmark = pytest.mark.requires("redis")

WHEN = datetime(2031, 5, 4, 3, 2, 1, tzinfo=timezone.utc)


@pytest.fixture
def app(redis_db: Any) -> Celery:
    app = Celery("airlock_perf", broker=redis_url(DB), set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False

    @app.task(name="perf.add", shared=False)
    def add(a: Any, b: Any = 0) -> Any:
        return a + b

    @app.task(name="perf.other", shared=False)
    def other(*args: Any, **kwargs: Any) -> None:
        pass

    app.finalize()
    yield app
    app.close()


def published(client: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """task id -> (Redis list, message) for everything queued in the DB, emptying it."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for key in client.keys():
        if client.type(key) == b"list":
            name = key.decode()
            for message in drain(client, name):
                found[message["headers"]["id"]] = (name, message)
    return found


def normalized(entry: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    key, message = entry
    properties = message["properties"]
    uuid.UUID(properties.pop("delivery_tag"))  # random per message, as with kombu
    if "expiration" in properties:  # milliseconds left, computed at publish time
        properties["expiration"] = clock_figure(properties["expiration"], WHEN, until=True)
    return key, message


def variants(app: Celery) -> list[Intent]:
    add, other = app.tasks["perf.add"], app.tasks["perf.other"]
    return [
        Intent(task=add, args=(1, 2)),
        Intent(task=add, args=(3,), kwargs={"b": 4}, key="order-7"),
        Intent(task=add, args=(5, 6)),  # same task and options as the first: stamped
        Intent(task=add, args=("é\n'",), kwargs={"b": [1, {"k": None}]}),  # saferepr's way
        Intent(task=add, args=("x" * 3000,)),  # argsrepr truncated
        Intent(task=other, kwargs={"n": 1.5, "flag": True, "none": None}),
        Intent(task=add, args=(7,), dispatch_options={"queue": "perf_q"}),
        Intent(task=add, args=(8,), dispatch_options={"queue": "perf_q", "priority": 7}),
        Intent(task=add, args=(9,), dispatch_options={"queue": "perf_q", "priority": 7}),
        Intent(task=add, args=(10,), dispatch_options={"eta": WHEN}),
        Intent(task=add, args=(11,), dispatch_options={"expires": WHEN}),
        Intent(task=add, args=(12,), dispatch_options={"time_limit": 30, "soft_time_limit": 20}),
        Intent(task=add, args=(13,), dispatch_options={"headers": {"tenant": "t1"}}),
        Intent(task=add, args=(14,), dispatch_options={"ignore_result": True}),
        Intent(task=add, args=(15,), dispatch_options={"task_id": "explicit-id"}),
        Intent(task=add, args=(16,), dispatch_options={"delivery_mode": 1}),
        Intent(task=add, args=(17,), dispatch_options={"serializer": "pickle"}),
        # Celery parses these its own way, which changed between releases: sent alone
        Intent(task=add, args=(18,), dispatch_options={"expires": WHEN.isoformat()}),
        Intent(task=add, args=(19,), dispatch_options={"expires": WHEN.replace(tzinfo=None)}),
    ]


def test_batched_messages_are_exactly_what_apply_async_sends(app: Celery, redis_db: Any) -> None:
    intents = variants(app)
    for intent in intents:
        send(intent)  # the stock path: task.apply_async(...)
    stock = published(redis_db)

    CeleryBatchExecutor().publish_all(intents)
    ours = published(redis_db)

    assert len(stock) == len(intents)
    assert sorted(ours) == sorted(stock)
    for task_id, entry in stock.items():
        assert normalized(ours[task_id]) == normalized(entry), task_id


def raw_entries(client: Any) -> dict[str, tuple[bytes, bytes]]:
    """task id -> (Redis list, the entry's bytes with kombu's random delivery tag blanked)."""
    found: dict[str, tuple[bytes, bytes]] = {}
    for key in client.keys():
        if client.type(key) == b"list":
            for raw in client.lrange(key, 0, -1):
                task_id = json.loads(raw)["headers"]["id"]
                raw = re.sub(rb'"delivery_tag": "[0-9a-f-]{36}"', b'"delivery_tag": ""', raw)
                raw = re.sub(rb'"expiration": "(\d+)"', _blank_expiration, raw)
                found[task_id] = (key, raw)
            client.delete(key)
    return found


def _blank_expiration(match: re.Match[bytes]) -> bytes:  # milliseconds left at publish time
    return b'"expiration": "%s"' % clock_figure(match.group(1).decode(), WHEN, until=True).encode()


def test_batched_entries_are_byte_for_byte_what_apply_async_pushes(
    app: Celery, redis_db: Any
) -> None:
    intents = variants(app)
    for intent in intents:
        send(intent)
    stock = raw_entries(redis_db)
    for _ in range(2):  # the second flush stamps every message from the templates
        CeleryBatchExecutor().publish_all(intents)
        assert raw_entries(redis_db) == stock


def test_publish_receivers_see_every_message_and_may_change_it(
    app: Celery, redis_db: Any
) -> None:
    def stamp(headers: dict[str, Any], **_: Any) -> None:
        headers["stamped_for"] = headers["id"]

    intents = [Intent(task=app.tasks["perf.add"], args=(i,)) for i in range(3)]
    signals.before_task_publish.connect(stamp)
    try:
        CeleryBatchExecutor().publish_all(intents)
    finally:
        signals.before_task_publish.disconnect(stamp)
    found = published(redis_db)
    assert {tid: m["headers"]["stamped_for"] for tid, (_, m) in found.items()} == {
        i.id: i.id for i in intents
    }


def test_publish_receivers_get_what_apply_async_gives_them(app: Celery, redis_db: Any) -> None:
    seen: list[dict[str, Any]] = []

    def before(sender: str, body: Any, headers: dict[str, Any], **kwargs: Any) -> None:
        seen.append(dict(kwargs, sender=sender, body=body, task_id=headers["id"]))

    def after(sender: str, body: Any, headers: dict[str, Any], **kwargs: Any) -> None:
        seen.append(dict(kwargs, sender=sender, body=body, task_id=headers["id"], after=True))

    intents = variants(app)[:3]
    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    try:
        for intent in intents:
            send(intent)
        stock, seen[:] = list(seen), []
        CeleryBatchExecutor().publish_all(intents)
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)
    published(redis_db)
    key = lambda call: (call["task_id"], "after" in call)  # noqa: E731
    assert sorted(seen, key=key) == sorted(stock, key=key)  # the retry policy too (5.7 merges)


def test_a_flush_sends_in_order_through_one_after_flush(app: Celery, redis_db: Any) -> None:
    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor(chunk_size=3)
    with airlock.scope(executor=executor) as scope:
        for i in range(10):
            airlock.enqueue(add, i, _dispatch_options={"countdown": 60} if i == 4 else None)
        # canvas and options the fast path does not encode take the per-message path, in place
        airlock.enqueue(add.s(100, 1))
        airlock.enqueue(add, 11, _dispatch_options={"link": add.s(1)})
        airlock.enqueue(add, 12)
        assert redis_db.llen("celery") == 0  # recorded, not sent, until the flush
    messages = drain(redis_db, "celery")
    bodies = [m["headers"]["argsrepr"] for m in messages]
    assert bodies == [f"({i},)" for i in range(10)] + ["(100, 1)", "(11,)", "(12,)"]
    ids = [m["headers"]["id"] for m in messages]
    assert ids[:10] + ids[11:] == [i.id for i in scope.dispatched][:10] + [
        i.id for i in scope.dispatched
    ][11:]
    eta = datetime.fromisoformat(messages[4]["headers"]["eta"])
    assert timedelta(seconds=50) < eta - datetime.now(timezone.utc) <= timedelta(seconds=60)
    assert executor.pending() == []


def test_partial_failure_names_what_was_sent_and_what_was_not(
    app: Celery, redis_db: Any
) -> None:
    # A real fault: the list key of queue "perf_bad" holds a string, so its LPUSH is refused.
    redis_db.set("perf_bad", "not a list")
    add = app.tasks["perf.add"]
    good = [Intent(task=add, args=(i,)) for i in range(4)]
    bad = Intent(task=add, args=(99,), dispatch_options={"queue": "perf_bad"})
    later = [Intent(task=add, args=(i,)) for i in range(10, 13)]
    executor = CeleryBatchExecutor(chunk_size=5)  # chunks: good+bad, then later

    with pytest.raises(BatchDispatchError) as caught:
        executor.publish_all([*good, bad, *later])

    error = caught.value
    assert isinstance(error, DispatchError)
    assert error.sent == good
    assert error.unsent == [bad, *later]
    assert error.in_doubt == []
    assert [i for i, _ in error.errors] == [bad, *later]
    assert "WRONGTYPE" in str(error.errors[0][1])
    assert f"4 of 8 intents sent, 4 not sent (add(99) [{bad.id}]" in str(error)
    # The good ones are queued exactly once; nothing after the failure left the process.
    assert [m["headers"]["id"] for m in drain(redis_db, "celery")] == [i.id for i in good]


def test_an_interrupt_between_chunks_leaves_the_sent_ones_dispatched(
    app: Celery, redis_db: Any, monkeypatch: Any
) -> None:
    # Before, every intent of the flush was reported failed: an outbox would send the first
    # chunk again. Now what Redis took is dispatched, the rest failed, and the interrupt goes on.
    from airlock.integrations.executors._celery_redis import RedisChunks

    interrupt(monkeypatch, RedisChunks, "__call__", call=2)
    executor = CeleryBatchExecutor(chunk_size=2)
    fates = fates_of_an_interrupted_flush(executor, app.tasks["perf.add"], 5)
    assert fates == ["dispatched"] * 2 + ["failed"] * 3
    assert [m["headers"]["argsrepr"] for m in drain(redis_db, "celery")] == ["(0,)", "(1,)"]


@pytest.mark.parametrize("call", [1, 2])
def test_an_interrupt_in_one_run_of_a_flush_leaves_the_runs_before_it_dispatched(
    app: Celery, redis_db: Any, monkeypatch: Any, call: int
) -> None:
    # Runs: [0, 1] batched, [2] alone (an option the fast path leaves to apply_async), [3, 4]
    # batched. Interrupted in the first batched run, nothing went; in the second, the first
    # two runs did.
    from airlock.integrations.executors._celery_redis import RedisChunks

    add = app.tasks["perf.add"]
    interrupt(monkeypatch, RedisChunks, "__call__", call=call)
    options = {2: {"link": add.s(1)}}
    fates = fates_of_an_interrupted_flush(CeleryBatchExecutor(), add, 5, options)
    sent = 0 if call == 1 else 3
    assert fates == ["dispatched"] * sent + ["failed"] * (5 - sent)
    queued = [m["headers"]["argsrepr"] for m in drain(redis_db, "celery")]
    assert queued == [f"({i},)" for i in range(sent)]


def test_unreachable_broker_sends_nothing_and_says_so(redis_db: Any) -> None:
    app = Celery("airlock_perf_down", broker="redis://127.0.0.1:1/8", set_as_current=False)

    @app.task(name="perf.down", shared=False)
    def down() -> None:
        pass

    intents = [Intent(task=down) for _ in range(3)]
    with pytest.raises(BatchDispatchError) as caught:
        CeleryBatchExecutor().publish_all(intents)
    assert caught.value.sent == []
    assert caught.value.unsent + caught.value.in_doubt == intents
    app.close()


def test_flushes_in_other_threads_never_mix(app: Celery, redis_db: Any) -> None:
    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor()
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            with airlock.scope(executor=executor):
                for i in range(50):
                    airlock.enqueue(add, offset + i, _dispatch_options={"queue": f"perf_{offset}"})
                    if i == 25:
                        barrier.wait(5)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in (1000, 2000)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    for offset in (1000, 2000):
        got = [m["headers"]["argsrepr"] for m in drain(redis_db, f"perf_{offset}")]
        assert got == [f"({offset + i},)" for i in range(50)]


def test_other_brokers_take_the_per_message_path(redis_db: Any) -> None:
    app = Celery("airlock_perf_memory", broker="memory://", set_as_current=False)

    @app.task(name="perf.mem", shared=False)
    def mem(x: int) -> None:
        pass

    # kombu's in-memory broker is process-wide: a queue of our own keeps other suites out
    options = {"queue": "perf_mem"}
    intents = [Intent(task=mem, args=(i,), dispatch_options=options) for i in range(3)]
    CeleryBatchExecutor().publish_all(intents)
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("perf_mem")
        got = [queue.get(timeout=1).headers["id"] for _ in intents]
        queue.close()
    assert got == [i.id for i in intents]
    app.close()


def test_plain_repr_is_what_saferepr_gives_whenever_it_answers() -> None:
    from celery.utils.saferepr import saferepr
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from airlock.integrations.executors._celery_messages import plain_repr as _plain_repr

    scalars = (
        st.integers()
        | st.floats()
        | st.booleans()
        | st.none()
        | st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=80)
    )
    values = st.tuples(scalars, scalars) | st.lists(scalars, max_size=12).map(tuple) | (
        st.dictionaries(st.text(max_size=10), scalars, max_size=8)
    )

    @settings(max_examples=150, deadline=None)
    @given(values)
    def check(value: Any) -> None:
        fast = _plain_repr(value)
        if fast is not None:
            assert fast == saferepr(value, 1024, maxlevels=3)

    check()


def test_the_route_follows_settings_changes(app: Celery, redis_db: Any) -> None:
    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor()
    executor.publish_all([Intent(task=add, args=(1,))])
    app.conf.task_default_queue = "perf_changed"  # read again by the next flush
    executor.publish_all([Intent(task=add, args=(2,)), Intent(task=add, args=(3,))])
    assert [m["headers"]["argsrepr"] for m in drain(redis_db, "celery")] == ["(1,)"]
    assert [m["headers"]["argsrepr"] for m in drain(redis_db, "perf_changed")] == [
        "(2,)",
        "(3,)",
    ]


def test_a_forked_child_opens_its_own_connection(app: Celery, redis_db: Any) -> None:
    import multiprocessing

    from airlock.integrations.executors._celery_route import route_for

    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor()
    executor.publish_all([Intent(task=add, args=(1,))])  # the parent's route exists

    def child() -> None:
        executor.publish_all([Intent(task=add, args=(2,)), Intent(task=add, args=(3,))])
        route = route_for(app)
        assert route is not None
        assert route.pid == multiprocessing.current_process().pid

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(30)
    assert process.exitcode == 0
    executor.publish_all([Intent(task=add, args=(4,))])  # the parent's connection still works
    got = sorted(m["headers"]["argsrepr"] for m in drain(redis_db, "celery"))
    assert got == ["(1,)", "(2,)", "(3,)", "(4,)"]


def test_a_refused_single_push_reports_its_intents_unsent(app: Celery, redis_db: Any) -> None:
    # Both messages go to one list: one LPUSH, refused as a whole (a real WRONGTYPE).
    redis_db.set("perf_bad", "not a list")
    add = app.tasks["perf.add"]
    options = {"queue": "perf_bad"}
    intents = [Intent(task=add, args=(i,), dispatch_options=options) for i in range(2)]
    with pytest.raises(BatchDispatchError) as caught:
        CeleryBatchExecutor().publish_all(intents)
    assert caught.value.sent == []
    assert caught.value.unsent == intents
    assert caught.value.in_doubt == []
    assert "WRONGTYPE" in str(caught.value)


def test_a_flush_finding_the_route_busy_takes_celerys_pool(app: Celery, redis_db: Any) -> None:
    from airlock.integrations.executors._celery_route import route_for

    add = app.tasks["perf.add"]
    executor = CeleryBatchExecutor()
    executor.publish_all([Intent(task=add, args=(1,))])
    route = route_for(app)  # held, as by a flush in another thread
    assert route is not None
    try:
        executor.publish_all([Intent(task=add, args=(2,)), Intent(task=add, args=(3,))])
    finally:
        route.lock.release()
    got = [m["headers"]["argsrepr"] for m in drain(redis_db, "celery")]
    assert got == ["(1,)", "(2,)", "(3,)"]


def test_a_redis_client_that_retries_takes_the_per_message_path(redis_db: Any) -> None:
    # A retried pipeline could queue a message twice: with retry_on_timeout the fast path
    # steps aside and apply_async sends each message (with Celery's own retry policy).
    from airlock.integrations.executors._celery_route import route_for

    app = Celery("airlock_perf_retry", broker=redis_url(DB), set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=False,
        broker_transport_options={"retry_on_timeout": True},
    )

    @app.task(name="perf.retry", shared=False)
    def retry(x: int) -> None:
        pass

    intents = [Intent(task=retry, args=(i,)) for i in range(3)]
    CeleryBatchExecutor().publish_all(intents)
    route = route_for(app)
    assert route is not None
    route.lock.release()
    assert route.kind is None
    assert [m["headers"]["id"] for m in drain(redis_db, "celery")] == [i.id for i in intents]
    app.close()
