from __future__ import annotations

import functools
import logging

import pytest

import airlock
from airlock.executors import (
    compose,
    instrumented,
    logging_executor,
    with_circuit_breaker,
    with_retry,
)
from tests.executors.helpers import Recorder, intent, run_threads


def test_compose_applies_the_first_wrapper_outermost() -> None:
    order: list[str] = []

    def tag(label: str):  # type: ignore[no-untyped-def]
        def wrapper(ex):  # type: ignore[no-untyped-def]
            def run(i: airlock.Intent) -> None:
                order.append(label)
                ex(i)

            return run

        return wrapper

    inner = Recorder()
    compose(tag("outer"), tag("middle"), tag("inner"))(inner)(intent())
    assert order == ["outer", "middle", "inner"] and inner.calls == 1


def test_compose_with_real_wrappers_retries_through_the_breaker() -> None:
    inner = Recorder(fail=2)
    ex = compose(
        functools.partial(with_retry, attempts=3, sleep=lambda s: None), with_circuit_breaker
    )(inner)
    ex(intent())
    assert len(inner.received) == 1 and ex.statistics.retries == 2  # type: ignore[attr-defined]


def test_compose_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match="wrapper functions"):
        compose(with_retry, 3)  # type: ignore[arg-type]


def test_logging_executor_logs_and_runs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[int] = []

    def dangerous(order_id: int) -> None:
        ran.append(order_id)

    caplog.set_level(logging.INFO, logger="airlock.dryrun")
    with airlock.scope(executor=logging_executor()):
        airlock.enqueue(dangerous, order_id=7)
        airlock.enqueue(dangerous, 8, _dispatch_options={"queue": "mail"})
    assert ran == []
    assert caplog.messages == [
        "airlock dry run: would run dangerous(order_id=7)",
        "airlock dry run: would run dangerous(8) with options {'queue': 'mail'}",
    ]


def test_logging_executor_takes_a_logger_name_and_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="shop")
    logging_executor("shop", level=logging.DEBUG)(intent("x"))
    assert [(r.name, r.levelno) for r in caplog.records] == [("shop", logging.DEBUG)]


def test_instrumented_counts_times_and_calls_back() -> None:
    ticks = iter([0.0, 0.5, 1.0, 3.0])
    seen: list[tuple[str, str, float]] = []
    ex = instrumented(
        Recorder(fail=lambda i: i.name == "bad"),
        on_success=lambda i, s: seen.append(("ok", i.name, s)),
        on_failure=lambda i, e, s: seen.append((type(e).__name__, i.name, s)),
        clock=lambda: next(ticks),
    )
    ex(intent("good"))
    with pytest.raises(ConnectionError):
        ex(intent("bad"))
    assert seen == [("ok", "good", 0.5), ("ConnectionError", "bad", 2.0)]
    s = ex.statistics
    assert (s.calls, s.successes, s.failures, s.total_seconds, s.max_seconds) == (2, 1, 1, 2.5, 2.0)


def test_instrumented_counts_exactly_under_eight_threads() -> None:
    ex = instrumented(Recorder(fail=lambda i: i.name == "bad"))

    def work(n: int) -> None:
        for k in range(30):
            try:
                ex(intent("bad" if k % 3 == 0 else "good"))
            except ConnectionError:
                pass

    assert run_threads(8, work) == []
    assert (ex.statistics.calls, ex.statistics.failures, ex.statistics.successes) == (240, 80, 160)


def test_logging_executor_under_eight_threads_logs_every_intent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="airlock.dryrun")
    ex = logging_executor()
    assert run_threads(8, lambda n: [ex(intent(f"t{n}")) for _ in range(10)]) == []
    assert sorted(caplog.messages) == sorted(
        f"airlock dry run: would run t{n}()" for n in range(8) for _ in range(10)
    )
