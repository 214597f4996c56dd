from __future__ import annotations

import threading

import pytest

import airlock
import airlock.testing
from airlock.exceptions import BatchDispatchError
from airlock.executors import batching, broadcast, with_retry
from tests.executors.helpers import Recorder, intent, noop, run_threads


def test_broadcast_sends_the_same_intent_to_every_executor() -> None:
    email, slack = Recorder("email"), Recorder("slack")
    i = intent("notify")
    broadcast(email, slack)(i)
    assert email.received == [i] and slack.received == [i]


def test_broadcast_attempts_all_and_collects_errors() -> None:
    email, slack, hook = Recorder("email", fail=9), Recorder("slack"), Recorder("hook", fail=9)
    with pytest.raises(airlock.DispatchError) as info:
        broadcast(email, slack, hook)(intent("notify"))
    assert len(slack.received) == 1 and hook.calls == 1
    assert "2 of 3 executors failed" in str(info.value) and "email" in str(info.value)
    assert [type(e) for _, e in info.value.errors] == [ConnectionError, ConnectionError]


def test_broadcast_prepares_through_every_executor() -> None:
    a, b = Recorder("a"), Recorder("b")
    prepared = broadcast(a, b).prepare(intent("x"))
    assert dict(prepared.dispatch_options) == {"a_ok": 1, "b_ok": 1}


class BatchSender:
    """A backend with a bulk API (like SQS send_message_batch)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.fail_times = fail_times

    def __call__(self, intent: airlock.Intent) -> None:
        raise AssertionError("send_batch should be used")

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("bulk endpoint down")
        self.batches.append([i.name for i in intents])


def test_batching_sends_full_batches_at_once_and_the_rest_after_flush() -> None:
    sender = BatchSender()
    ex = batching(sender, size=3)
    with airlock.scope(executor=ex):
        for n in range(7):
            airlock.enqueue(noop, _name=f"t{n}")
    assert sender.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert ex.pending == []


def test_a_failed_batch_fails_its_intents_and_is_never_kept_for_a_later_send() -> None:
    sender = BatchSender(fail_times=1)
    ex = batching(sender, size=10)
    with airlock.testing.capture(execute=True) as seen:
        with pytest.raises(airlock.DispatchError) as info:
            with airlock.scope(executor=ex):
                airlock.enqueue(noop, _name="a")
                airlock.enqueue(noop, _name="b")
    assert [(i.name, type(e)) for i, e in info.value.errors] == [
        ("a", ConnectionError), ("b", ConnectionError)]
    assert info.value.unsent == []  # both were in the request that failed
    assert [(r.name, r.fate) for r in seen] == [("a", "failed"), ("b", "failed")]
    assert ex.pending == []
    ex.close()  # nothing is sent twice: the failed batch is gone
    assert sender.batches == []


def test_batching_one_by_one_reports_what_went_failed_and_was_never_sent() -> None:
    inner = Recorder(fail=lambda i: i.name == "b")
    ex = batching(inner, size=5)
    for name in "abc":
        ex(intent(name))
    with pytest.raises(airlock.DispatchError) as info:
        ex.after_flush()
    assert [i.name for i in inner.received] == ["a"]
    assert [i.name for i, _ in info.value.errors] == ["b", "c"]
    assert [i.name for i in info.value.unsent] == ["c"]
    assert ex.pending == [] and inner.events == ["after_flush"]


def test_a_batch_that_fails_in_the_middle_of_a_flush_settles_each_intent_once() -> None:
    inner = Recorder(fail=lambda i: i.name == "t4")
    ex = batching(inner, size=3)
    with airlock.testing.capture(execute=True) as seen:
        with pytest.raises(airlock.DispatchError):
            with airlock.scope(executor=ex):
                for n in range(7):
                    airlock.enqueue(noop, _name=f"t{n}")
    fates = [(r.name, r.fate) for r in seen]
    # t0-t2 went as the first batch; t3 went, t4 failed and took t5 with it (same batch); the
    # flush stopped there (fail-fast), so t6 was never handed over.
    assert fates == [("t0", "dispatched"), ("t1", "dispatched"), ("t2", "dispatched"),
                     ("t3", "dispatched"), ("t4", "failed"), ("t5", "failed"),
                     ("t6", "failed")]
    assert [i.name for i in inner.received] == ["t0", "t1", "t2", "t3"]
    assert ex.pending == []


def test_batching_under_eight_threads_loses_nothing_and_keeps_each_flush_its_own() -> None:
    # Each thread is a flush of its own (its after_flush sends its tail): a batch never mixes
    # two flushes' intents, so each flush learns what became of its own.
    sender = BatchSender()
    ex = batching(sender, size=7)

    def flush(n: int) -> None:
        for k in range(50):
            ex(intent(f"t{n}-{k}"))
        ex.after_flush()

    assert run_threads(8, flush) == []
    sent = [name for batch in sender.batches for name in batch]
    assert sorted(sent) == sorted(f"t{n}-{k}" for n in range(8) for k in range(50))
    for batch in sender.batches:
        assert len({name.split("-")[0] for name in batch}) == 1  # one flush per batch
    for n in range(8):  # each producer's intents keep their order, in batches of 7 and a tail
        mine = [b for b in sender.batches if b[0].startswith(f"t{n}-")]
        assert [len(b) for b in mine] == [7] * 7 + [1]
        assert [s for b in mine for s in b] == [f"t{n}-{k}" for k in range(50)]


def test_a_failed_send_in_one_thread_never_takes_another_flushs_intents() -> None:
    # Before, batching() held one list for every thread: flush B's failing send also took the
    # intent flush A had handed over, and A, finding nothing left, reported it dispatched.
    sender = BatchSender(fail_times=1)
    ex = batching(sender, size=2)
    a_handed, b_done = threading.Event(), threading.Event()
    seen: dict[str, str] = {}

    def hold(intent: airlock.Intent) -> None:  # flush A's next intent: wait for flush B
        a_handed.set()
        assert b_done.wait(10)

    airlock.register_executor("hold", hold)

    def flush_a() -> None:
        with airlock.testing.capture(execute=True) as fates:
            with airlock.scope(executor=ex):
                airlock.enqueue(noop, _name="a1")  # handed to ex first, then "hold" waits
                airlock.enqueue(noop, _name="a2", _dispatch_options={"executor": "hold"})
        seen.update((r.name, r.fate) for r in fates)

    def flush_b() -> None:
        assert a_handed.wait(10)
        with pytest.raises(airlock.DispatchError), airlock.scope(executor=ex):
            airlock.enqueue(noop, _name="b1")
            airlock.enqueue(noop, _name="b2")  # a full batch: sent (and failed) at once
        b_done.set()

    threads = [threading.Thread(target=flush_a), threading.Thread(target=flush_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sender.batches == [["a1"]]
    assert seen["a1"] == "dispatched"


def test_calls_made_from_a_thread_outside_the_flush_go_with_that_flush() -> None:
    # A wrapper of the user's own runs each call on a worker thread (which does not see the
    # flush) and forwards after_flush: the intents still go, in that flush, and are dispatched.
    import concurrent.futures

    sender = BatchSender()
    ex = batching(sender, size=10)
    pool = concurrent.futures.ThreadPoolExecutor(1)

    class InWorker:
        def __call__(self, intent: airlock.Intent) -> None:
            pool.submit(ex, intent).result()

        def after_flush(self) -> None:
            ex.after_flush()

    with airlock.testing.capture(execute=True) as seen, airlock.scope(executor=InWorker()):
        airlock.enqueue(noop, _name="x1")
        airlock.enqueue(noop, _name="x2")
    pool.shutdown()
    assert sender.batches == [["x1", "x2"]]
    assert [(r.name, r.fate) for r in seen] == [("x1", "dispatched"), ("x2", "dispatched")]


def test_close_sends_what_any_thread_handed_over_outside_a_flush() -> None:
    sender = BatchSender()
    ex = batching(sender, size=10)
    thread = threading.Thread(target=ex, args=(intent("w1"),))
    thread.start()
    thread.join(10)
    ex.close()
    assert sender.batches == [["w1"]]


def test_retry_around_batching_never_sends_again_what_is_in_doubt() -> None:
    # The bulk endpoint took the batch but its answer was lost: in doubt. batching() passes
    # that on (a BatchDispatchError), so with_retry does not send the batch a second time.
    class Unanswered:
        def __init__(self) -> None:
            self.received: list[list[str]] = []

        def __call__(self, intent: airlock.Intent) -> None:
            raise AssertionError("send_batch should be used")

        def send_batch(self, intents: list[airlock.Intent]) -> None:
            self.received.append([i.name for i in intents])
            lost = ConnectionError("the answer was lost")
            raise BatchDispatchError(
                "no answer", in_doubt=intents, errors=[(i, lost) for i in intents]
            )

    bulk = Unanswered()
    ex = with_retry(batching(bulk, size=2), attempts=3, sleep=lambda s: None)
    with pytest.raises(airlock.DispatchError), airlock.scope(executor=ex):
        airlock.enqueue(noop, _name="x1")
        airlock.enqueue(noop, _name="x2")
    assert bulk.received == [["x1", "x2"]]


def test_a_task_run_by_a_batch_send_may_flush_through_the_same_batching() -> None:
    # batching(sync_executor) runs each task inside its send; a task that enqueues flushes its
    # own scope through the same batching, inside that send (a deadlock once, on the lock).
    from airlock.integrations.executors.sync import sync_executor

    done: list[object] = []

    def follow_up(n: int) -> None:
        done.append(("follow_up", n))

    def task(n: int) -> None:
        done.append(("task", n))
        airlock.enqueue(follow_up, n)

    ex = batching(sync_executor, size=10)
    airlock.configure(executor=ex)  # the task's own scope uses it too

    def flush() -> None:
        with airlock.testing.capture(execute=True) as seen, airlock.scope():
            airlock.enqueue(task, 1)
        done.append([r.fate for r in seen])

    thread = threading.Thread(target=flush, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the nested flush deadlocked"
    assert done == [("task", 1), ("follow_up", 1), ["dispatched", "dispatched"]]


def test_batching_rejects_a_bad_size() -> None:
    with pytest.raises(ValueError, match="size >= 1"):
        batching(Recorder(), size=0)


def test_broadcast_under_eight_threads_delivers_every_intent_to_every_executor() -> None:
    a, b = Recorder("a"), Recorder("b", fail=lambda i: i.name.endswith("-3"))
    ex = broadcast(a, b)
    failures: list[BaseException] = []

    def produce(n: int) -> None:
        for k in range(10):
            try:
                ex(intent(f"t{n}-{k}"))
            except airlock.DispatchError as exc:
                failures.append(exc)

    assert run_threads(8, produce) == []
    assert len(a.received) == 80 and len(b.received) == 72
    assert len(failures) == 8 and all("1 of 2 executors failed" in str(f) for f in failures)
