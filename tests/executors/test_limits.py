from __future__ import annotations

import threading

import pytest

import airlock
from airlock.executors import (
    CircuitOpenError,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
)
from tests.executors.helpers import Recorder, intent, run_threads

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class FakeClock:
    """Time that moves only when a test (or the injected sleep) moves it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


# -- rate limit ---------------------------------------------------------------------------------


def test_burst_passes_then_callers_wait_their_turn() -> None:
    clock, slept = FakeClock(), []
    inner = Recorder()
    ex = with_rate_limit(inner, per_second=2, burst=2, clock=clock, sleep=slept.append)
    for _ in range(5):
        ex(intent())
    assert slept == [0.5, 1.0, 1.5]
    assert inner.calls == 5


def test_tokens_refill_with_time() -> None:
    clock, slept = FakeClock(), []
    ex = with_rate_limit(Recorder(), per_second=10, burst=1, clock=clock, sleep=slept.append)
    ex(intent())
    clock.advance(0.1)
    ex(intent())
    clock.advance(0.05)
    ex(intent())
    assert slept == [pytest.approx(0.05)]


def test_eight_threads_are_spaced_exactly_one_slot_apart() -> None:
    clock, slept, lock = FakeClock(), [], threading.Lock()

    def sleep(s: float) -> None:
        with lock:
            slept.append(s)

    inner = Recorder()
    ex = with_rate_limit(inner, per_second=4, burst=1, clock=clock, sleep=sleep)
    errors = run_threads(8, lambda n: ex(intent()))
    assert errors == [] and inner.calls == 8
    # One token was free; the other seven reserved consecutive slots 0.25 s apart.
    assert sorted(slept) == pytest.approx([0.25 * k for k in range(1, 8)])


def test_rate_limit_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="per_second > 0"):
        with_rate_limit(Recorder(), per_second=0)
    with pytest.raises(ValueError, match="burst >= 1"):
        with_rate_limit(Recorder(), per_second=5, burst=0.5)


# -- circuit breaker ----------------------------------------------------------------------------


def test_breaker_opens_fails_fast_half_opens_and_closes() -> None:
    clock, changes = FakeClock(), []
    inner = Recorder(fail=3)
    ex = with_circuit_breaker(
        inner,
        failures=3,
        reset_after=10,
        clock=clock,
        on_state_change=lambda o, n: changes.append((o, n)),
    )
    for _ in range(3):
        with pytest.raises(ConnectionError):
            ex(intent())
    assert ex.state == OPEN and changes == [(CLOSED, OPEN)]

    with pytest.raises(
        CircuitOpenError, match=r"open after 3 consecutive failures.*try again in 10s"
    ):
        ex(intent("send"))
    assert inner.calls == 3  # failing fast: the executor was not called

    clock.advance(10)
    assert ex.state == HALF_OPEN
    ex(intent("trial"))
    assert ex.state == CLOSED
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]
    assert [i.name for i in inner.received] == ["trial"]


def test_failed_trial_opens_again_for_a_full_period() -> None:
    clock, changes = FakeClock(), []
    ex = with_circuit_breaker(
        Recorder(fail=2),
        failures=1,
        reset_after=5,
        clock=clock,
        on_state_change=lambda o, n: changes.append(n),
    )
    with pytest.raises(ConnectionError):
        ex(intent())
    clock.advance(5)
    with pytest.raises(ConnectionError):
        ex(intent())  # the trial fails
    assert ex.state == OPEN and changes == [OPEN, HALF_OPEN, OPEN]
    clock.advance(4)
    with pytest.raises(CircuitOpenError):
        ex(intent())
    clock.advance(1)
    ex(intent())
    assert ex.state == CLOSED


def test_successes_reset_the_consecutive_count() -> None:
    outcomes = iter([True, True, False, True, True, False])

    def sometimes(i: airlock.Intent) -> None:
        if next(outcomes):
            raise ConnectionError("down")

    ex = with_circuit_breaker(sometimes, failures=3)
    for _ in range(6):
        try:
            ex(intent())
        except ConnectionError:
            pass
    assert ex.state == CLOSED


def test_only_failure_on_errors_count() -> None:
    def bug(i: airlock.Intent) -> None:
        raise KeyError("a bug, not an outage")

    ex = with_circuit_breaker(bug, failures=1, failure_on=ConnectionError)
    for _ in range(3):
        with pytest.raises(KeyError):
            ex(intent())
    assert ex.state == CLOSED


def test_half_open_lets_exactly_one_trial_through_under_eight_threads() -> None:
    clock = FakeClock()
    release = threading.Event()
    calls: list[str] = []

    def slow_backend(i: airlock.Intent) -> None:
        calls.append(i.name)
        if i.name == "first":
            raise ConnectionError("down")
        release.wait(10)

    ex = with_circuit_breaker(slow_backend, failures=1, reset_after=1, clock=clock)
    with pytest.raises(ConnectionError):
        ex(intent("first"))
    clock.advance(1)

    rejected: list[BaseException] = []

    def call(n: int) -> None:
        try:
            ex(intent(f"t{n}"))
        except CircuitOpenError as exc:
            rejected.append(exc)
            if len(rejected) == 7:
                release.set()

    assert run_threads(8, call) == []
    assert len(calls) == 2 and len(rejected) == 7  # one trial, seven fast failures
    assert ex.state == CLOSED


def test_breaker_with_fallback_sends_elsewhere_while_open() -> None:
    down, backup = Recorder("celery", fail=99), Recorder("sync")
    ex = with_fallback(with_circuit_breaker(down, failures=2, reset_after=60), backup)
    for _ in range(5):
        ex(intent())
    assert down.calls == 2 and len(backup.received) == 5


def test_closed_breaker_counts_concurrent_failures_and_opens_once() -> None:
    changes: list[str] = []
    gate = threading.Barrier(8)

    def down(i: airlock.Intent) -> None:
        gate.wait(10)  # all eight calls are in flight before any fails
        raise ConnectionError("down")

    ex = with_circuit_breaker(
        down, failures=8, on_state_change=lambda old, new: changes.append(new)
    )
    errors = run_threads(8, lambda n: ex(intent()))
    assert [type(e) for e in errors] == [ConnectionError] * 8
    assert changes == [OPEN] and ex.state == OPEN
