"""Wrappers around and inside ``batching``: no loss, no duplicate, batches kept (SPEC 2.6)."""

from __future__ import annotations

import threading

import pytest

import airlock
import airlock.testing
from airlock.exceptions import BatchDispatchError
from airlock.executors import (
    batching,
    instrumented,
    route,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from tests.executors.helpers import Recorder, noop, run_threads


def no_sleep(seconds: float) -> None:
    pass


class Bulk:
    """A backend with a bulk API that records what it delivered; can fail its next sends.

    ``fail`` counts the next sends to fail with ConnectionError; ``partial`` makes the next send
    deliver only its first intent and report the rest unsent (a ``BatchDispatchError``).
    """

    def __init__(
        self, name: str = "bulk", fail: int = 0, partial: int = 0, refuse: tuple[str, ...] = ()
    ) -> None:
        self.__name__ = name
        self.fail = fail
        self.partial = partial
        self.refuse = set(refuse)  # refused once each, the rest of their batch delivered
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, intent: airlock.Intent) -> None:
        with self._lock:
            self.singles.append(intent.name)

    def send_batch(self, intents: list[airlock.Intent]) -> None:
        with self._lock:
            if self.fail:
                self.fail -= 1
                raise ConnectionError(f"{self.__name__} down")
            refused = [i for i in intents if i.name in self.refuse]
            if refused:
                self.refuse -= {i.name for i in refused}
                went = [i for i in intents if i not in refused]
                self.batches.append([i.name for i in went])
                error = ConnectionError("refused")
                raise BatchDispatchError("some refused", sent=went, unsent=refused,
                                         errors=[(i, error) for i in refused])
            if self.partial:
                self.partial -= 1
                self.batches.append([intents[0].name])
                error = ConnectionError("cut off")
                raise BatchDispatchError(
                    "cut off after one", sent=intents[:1], unsent=intents[1:],
                    errors=[(i, error) for i in intents[1:]])
            self.batches.append([i.name for i in intents])

    @property
    def delivered(self) -> list[str]:
        return [n for b in self.batches for n in b] + self.singles


def flush_seven(executor: object) -> airlock.testing.Capture:
    with airlock.testing.capture(execute=True) as seen:
        with airlock.scope(executor=executor):  # type: ignore[arg-type]
            for n in range(7):
                airlock.enqueue(noop, _name=f"t{n}")
    return seen


NAMES = [f"t{n}" for n in range(7)]


def test_batching_around_retry_keeps_the_batches() -> None:
    bulk = Bulk()
    seen = flush_seven(batching(with_retry(bulk, sleep=no_sleep), size=3))
    assert bulk.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert bulk.singles == []
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_batching_around_retry_retries_a_failed_batch_as_a_unit() -> None:
    bulk = Bulk(fail=1)
    retry = with_retry(bulk, sleep=no_sleep)
    seen = flush_seven(batching(retry, size=3))
    assert bulk.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert [r.fate for r in seen] == ["dispatched"] * 7
    assert (retry.statistics.attempts, retry.statistics.retries) == (4, 1)


def test_retrying_a_batch_never_sends_again_what_went() -> None:
    bulk = Bulk(partial=1)
    seen = flush_seven(batching(with_retry(bulk, sleep=no_sleep), size=3))
    assert bulk.batches == [["t0"], ["t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert sorted(bulk.delivered) == NAMES
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_a_batch_retried_until_give_up_fails_its_intents_only() -> None:
    bulk = Bulk(fail=3)  # the first batch fails all three attempts
    with pytest.raises(airlock.DispatchError) as info:
        flush_seven(batching(with_retry(bulk, sleep=no_sleep), size=3))
    assert [i.name for i, _ in info.value.errors][:3] == ["t0", "t1", "t2"]
    assert bulk.batches == []  # fail-fast: the flush stopped at the failed batch


def test_retry_around_batching_with_one_failed_send_delivers_each_intent_once() -> None:
    bulk = Bulk(fail=1)
    seen = flush_seven(with_retry(batching(bulk, size=3), sleep=no_sleep))
    assert sorted(bulk.delivered) == NAMES
    assert len(bulk.delivered) == 7
    assert all(len(b) == 3 for b in bulk.batches[:-1])
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_retry_around_batching_never_resends_the_intent_whose_call_sent_the_batch() -> None:
    bulk = Bulk(refuse=("t0",))  # t2's call sends t0-t2: t1 and t2 go, t0 is refused once
    seen = flush_seven(with_retry(batching(bulk, size=3), sleep=no_sleep))
    assert bulk.batches == [["t1", "t2"], ["t0", "t3", "t4"], ["t5", "t6"]]
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_retry_around_batching_one_by_one_never_resends_what_went() -> None:
    inner = Recorder(fail=lambda i: i.name == "t1" and inner.calls <= 2)
    seen = flush_seven(with_retry(batching(inner, size=3), sleep=no_sleep))
    names = [i.name for i in inner.received]
    assert sorted(names) == NAMES and len(names) == 7
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_retry_around_batching_fails_in_after_flush_what_it_gave_up() -> None:
    bulk = Bulk(fail=10)
    with airlock.testing.capture(execute=True) as seen:
        with pytest.raises(airlock.DispatchError):
            with airlock.scope(executor=with_retry(batching(bulk, size=10), sleep=no_sleep)):
                airlock.enqueue(noop, _name="a")
                airlock.enqueue(noop, _name="b")
    assert [(r.name, r.fate) for r in seen] == [("a", "failed"), ("b", "failed")]
    assert bulk.delivered == []


def test_retry_around_batching_under_eight_threads_loses_and_duplicates_nothing() -> None:
    bulk = Bulk(fail=2)
    ex = with_retry(batching(bulk, size=5), sleep=no_sleep, attempts=5)

    def produce(n: int) -> None:
        with airlock.scope(executor=ex):
            for k in range(20):
                airlock.enqueue(noop, _name=f"t{n}-{k}")

    assert run_threads(8, produce) == []
    assert sorted(bulk.delivered) == sorted(f"t{n}-{k}" for n in range(8) for k in range(20))


def test_batching_around_fallback_sends_the_failed_batch_to_the_next_as_a_batch() -> None:
    down, spare = Bulk("down", fail=99), Bulk("spare")
    seen = flush_seven(batching(with_fallback(down, spare), size=3))
    assert spare.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert down.delivered == [] and [r.fate for r in seen] == ["dispatched"] * 7


def test_batching_around_route_splits_each_batch_by_route() -> None:
    even, odd = Bulk("even"), Bulk("odd")
    ex = route({0: even, 1: odd}, by=lambda i: int(i.name[1:]) % 2)
    seen = flush_seven(batching(ex, size=4))
    assert even.batches == [["t0", "t2"], ["t4", "t6"]]
    assert odd.batches == [["t1", "t3"], ["t5"]]
    assert [r.fate for r in seen] == ["dispatched"] * 7


def test_batching_around_circuit_breaker_counts_a_batch_as_one_call() -> None:
    bulk = Bulk(fail=1)
    breaker = with_circuit_breaker(bulk, failures=1, reset_after=3600)
    with pytest.raises(airlock.DispatchError):
        flush_seven(batching(breaker, size=3))
    assert breaker.state == "open"
    with airlock.testing.capture(execute=True) as seen:
        with pytest.raises(airlock.DispatchError):
            with airlock.scope(executor=batching(breaker, size=3)):
                airlock.enqueue(noop, _name="x")
                airlock.enqueue(noop, _name="y")
    assert [r.fate for r in seen] == ["failed", "failed"]  # refused as a whole, none "sent"
    assert bulk.delivered == []


def test_batching_around_rate_limit_and_instrumented_keeps_the_batches() -> None:
    bulk = Bulk()
    waits: list[float] = []
    counted = instrumented(bulk)
    limited = with_rate_limit(counted, per_second=1, burst=3, clock=lambda: 0.0,
                              sleep=waits.append)
    seen = flush_seven(batching(limited, size=3))
    assert bulk.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert counted.statistics.calls == 7 and counted.statistics.successes == 7
    assert waits == [3.0, 4.0]  # one token per intent: 3 in the burst, then 1 per second
    assert [r.fate for r in seen] == ["dispatched"] * 7


# -- user callbacks that raise ---------------------------------------------------------


def test_a_state_listener_that_raises_does_not_wedge_the_breaker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    raised: list[tuple[str, str]] = []

    def listener(old: str, new: str) -> None:
        if (old, new) == ("open", "half-open") and not raised:
            raised.append((old, new))
            raise RuntimeError("metrics backend down")

    inner = Recorder(fail=1)
    breaker = with_circuit_breaker(inner, failures=1, reset_after=10, clock=lambda: now[0],
                                   on_state_change=listener)
    with pytest.raises(ConnectionError):
        breaker(airlock.Intent(task=noop))
    now[0] = 11.0
    breaker(airlock.Intent(task=noop, name="trial"))  # the listener raises; the trial still runs
    assert raised and breaker.state == "closed"
    breaker(airlock.Intent(task=noop, name="after"))
    assert [i.name for i in inner.received] == ["trial", "after"]
    assert any("on_state_change listener" in r.getMessage() for r in caplog.records)


def test_retry_around_instrumented_with_a_raising_on_success_sends_once() -> None:
    broker = Recorder("broker")

    def on_success(intent: airlock.Intent, seconds: float) -> None:
        raise RuntimeError("statsd down")

    with airlock.testing.capture(execute=True) as seen:
        with airlock.scope(executor=with_retry(instrumented(broker, on_success=on_success),
                                               sleep=no_sleep)):
            airlock.enqueue(noop, _name="charge")
    assert [i.name for i in broker.received] == ["charge"]
    assert [r.fate for r in seen] == ["dispatched"]


def test_a_raising_on_failure_keeps_the_original_error() -> None:
    def on_failure(intent: airlock.Intent, error: BaseException, seconds: float) -> None:
        raise RuntimeError("statsd down")

    with pytest.raises(ConnectionError, match="is down"):
        instrumented(Recorder(fail=1), on_failure=on_failure)(airlock.Intent(task=noop))
