from __future__ import annotations

import pytest

import airlock
from airlock.executors import exponential_backoff, with_retry
from tests.executors.helpers import Recorder, intent, run_threads


def test_retries_until_success_with_exponential_schedule() -> None:
    inner = Recorder(fail=2)
    slept: list[float] = []
    ex = with_retry(
        inner, attempts=4, backoff=exponential_backoff(0.5, jitter=0), sleep=slept.append
    )

    ex(intent("send"))

    assert [i.name for i in inner.received] == ["send"]
    assert slept == [0.5, 1.0]
    s = ex.statistics
    assert (s.attempts, s.retries, s.successes, s.give_ups) == (3, 2, 1, 0)


def test_gives_up_and_reraises_the_last_error() -> None:
    inner = Recorder(fail=10)
    slept: list[float] = []
    ex = with_retry(inner, attempts=3, backoff=exponential_backoff(1, jitter=0), sleep=slept.append)

    with pytest.raises(ConnectionError, match="call 3"):
        ex(intent())

    assert slept == [1, 2]
    assert (ex.statistics.attempts, ex.statistics.give_ups) == (3, 1)


def test_backoff_is_capped_and_jitter_stays_within_its_fraction() -> None:
    exact = exponential_backoff(1, factor=3, maximum=5, jitter=0)
    assert [exact(n) for n in (1, 2, 3, 4)] == [1, 3, 5, 5]
    jittered = exponential_backoff(1, jitter=0.5)
    samples = [jittered(2) for _ in range(200)]
    assert all(2 <= s <= 3 for s in samples)
    assert len(set(samples)) > 1


def test_a_number_backoff_doubles_from_that_number() -> None:
    slept: list[float] = []
    ex = with_retry(Recorder(fail=2), attempts=3, backoff=0.2, sleep=slept.append)
    ex(intent())
    assert 0.2 <= slept[0] <= 0.22 and 0.4 <= slept[1] <= 0.44


def test_errors_outside_retry_on_are_not_retried() -> None:
    def broken(i: airlock.Intent) -> None:
        raise KeyError("bug")

    slept: list[float] = []
    ex = with_retry(broken, retry_on=ConnectionError, sleep=slept.append)
    with pytest.raises(KeyError):
        ex(intent())
    assert slept == [] and ex.statistics.attempts == 1 and ex.statistics.give_ups == 1


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        with_retry(Recorder(), attempts=0)
    with pytest.raises(TypeError, match="retry_on"):
        with_retry(Recorder(), retry_on=("nope",))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an executor"):
        with_retry("celery")  # type: ignore[arg-type]


def test_retrying_sync_executor_reruns_the_task_body() -> None:
    runs: list[int] = []

    def flaky() -> None:
        runs.append(1)
        if len(runs) < 2:
            raise ConnectionError("once")

    from airlock.integrations.executors.sync import sync_executor

    with airlock.scope(executor=with_retry(sync_executor, sleep=lambda s: None)):
        airlock.enqueue(flaky)
    assert len(runs) == 2


def test_statistics_are_exact_under_eight_threads() -> None:
    # Every first call of each intent fails: 8 threads x 10 intents -> 80 retries.
    seen: set[str] = set()

    def first_call_fails(i: airlock.Intent) -> None:
        if i.id not in seen:
            seen.add(i.id)
            raise ConnectionError("first try")

    ex = with_retry(first_call_fails, attempts=2, sleep=lambda s: None)
    errors = run_threads(8, lambda n: [ex(intent()) for _ in range(10)])
    assert errors == []
    s = ex.statistics
    assert (s.attempts, s.retries, s.successes, s.give_ups) == (160, 80, 80, 0)
