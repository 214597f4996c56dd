"""Every wrapper forwards prepare / after_flush / close, and strips only what it consumes."""

from __future__ import annotations

import functools

import pytest

import airlock
import airlock.executors as ex_mod
from airlock.executors import (
    batching,
    broadcast,
    instrumented,
    route,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from tests.executors.helpers import Recorder, noop

# name -> (wrap(inner), whether the wrapper consumes the "lane" option)
WRAPPERS = {
    "with_retry": (with_retry, False),
    "with_rate_limit": (functools.partial(with_rate_limit, per_second=1000), False),
    "with_circuit_breaker": (with_circuit_breaker, False),
    "instrumented": (instrumented, False),
    "batching": (functools.partial(batching, size=1), False),
    "with_fallback": (with_fallback, False),
    "broadcast": (broadcast, False),
    "route_by_name": (lambda inner: route({}, default=inner), False),
    "route_by_option": (lambda inner: route({"x": inner}, by="lane"), True),
}


@pytest.mark.parametrize(("wrap", "consumes_lane"), WRAPPERS.values(), ids=WRAPPERS.keys())
def test_wrapper_forwards_hooks_and_strips_only_what_it_consumes(wrap, consumes_lane) -> None:  # type: ignore[no-untyped-def]
    inner = Recorder("inner")
    executor = wrap(inner)
    with airlock.scope(executor=executor):
        airlock.enqueue(noop, _dispatch_options={"queue": "mail", "lane": "x"})
    executor.close()
    seen = "['queue']" if consumes_lane else "['lane', 'queue']"
    assert inner.events == [f"prepare noop {seen}", "after_flush", "close"]
    (received,) = inner.received
    expected = {"queue": "mail", "inner_ok": 1, **({} if consumes_lane else {"lane": "x"})}
    assert dict(received.dispatch_options) == expected


def test_route_by_option_strips_its_option_before_prepare_and_call() -> None:
    inner = Recorder("inner")
    executor = route({"x": inner}, by="lane")
    with airlock.scope(executor=executor):
        airlock.enqueue(noop, _dispatch_options={"queue": "mail", "lane": "x"})
    assert inner.events == ["prepare noop ['queue']", "after_flush"]
    assert dict(inner.received[0].dispatch_options) == {"queue": "mail", "inner_ok": 1}


def test_public_names_are_sorted_and_importable() -> None:
    assert ex_mod.__all__ == sorted(ex_mod.__all__)
    for name in ex_mod.__all__:
        assert getattr(ex_mod, name) is not None


def test_executors_package_has_no_third_party_imports() -> None:
    import subprocess
    import sys

    code = (
        "import sys, airlock.executors; "
        "bad = [m for m in ('boto3', 'ray', 'celery', 'requests', 'django') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
