"""An unverified library version turns a fast path off: the stock path, one warning, same messages.

The "unknown newer version" is made by monkeypatching the library's ``__version__`` (what the gate
reads): installing an unreleased dramatiq or huey is not possible, and the point is what the
executor does when it sees one. Everything else is real: Redis DB 9, real brokers and hueys.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from airlock import Intent
from airlock.exceptions import UntestedVersionWarning
from airlock.integrations.executors._versions import FastPath, installed_version, release
from tests.perf.conftest import DB
from tests.services import redis_url, require_module


def test_release_reads_the_release_numbers() -> None:
    assert release("5.3.0") == (5, 3) == release("5.3")
    assert release("2.3.0rc1") == (2, 3)
    assert release("1.15.0") < release("2.2.1") < release("2.3")
    with pytest.raises(ValueError, match="not a version"):
        release("unknown")


def test_a_gate_with_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="empty version range"):
        FastPath("x", {"json": ("2.0", "2.0")})


def test_a_library_that_is_not_installed_does_not_close_the_gate() -> None:
    assert installed_version("airlock_no_such_module") is None
    gate = FastPath("x", {"airlock_no_such_module": ("1.0", "2.0")})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gate.enabled()


@pytest.mark.parametrize("version", ["9.0.0", "1.0.0", "garbage"])
def test_outside_the_range_warns_once_and_stays_off(monkeypatch: Any, version: str) -> None:
    import json

    monkeypatch.setattr(json, "__version__", version)
    gate = FastPath("the json fast path", {"json": ("2.0", "3.0")})
    with pytest.warns(UntestedVersionWarning) as caught:
        assert not gate.enabled()
        assert not gate.enabled()
        assert not gate.enabled()
    assert len(caught) == 1
    text = str(caught[0].message)
    assert f"json {version} (verified: >=2.0,<3.0)" in text
    assert "the json fast path is off" in text
    monkeypatch.setattr(json, "__version__", "2.0.9")
    assert not gate.enabled()  # the verdict holds for the process...
    gate.reset()
    assert gate.enabled()  # ...until reset


@pytest.fixture
def newer(monkeypatch: Any) -> Iterator[Any]:
    """``newer(module, gate)``: the module claims a version past the gate's range."""
    gates: list[FastPath] = []

    def make(module: Any, gate: FastPath) -> None:
        monkeypatch.setattr(module, "__version__", "99.0.0")
        gate.reset()
        gates.append(gate)

    yield make
    monkeypatch.undo()
    for gate in gates:
        gate.reset()


def test_dramatiq_on_an_unknown_version_sends_through_enqueue(newer: Any, redis_db: Any) -> None:
    require_module("dramatiq", "dramatiq")
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    from airlock.integrations.executors._dramatiq_redis import REDIS_FAST_PATH
    from airlock.integrations.executors.dramatiq import DramatiqBatchExecutor

    broker = RedisBroker(url=redis_url(DB), namespace="airlock-gate")
    enqueued: list[str] = []

    class Spy(dramatiq.Middleware):  # a real middleware: sees what broker.enqueue sends
        def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
            enqueued.append(message.message_id)

    broker.add_middleware(Spy())

    @dramatiq.actor(broker=broker, actor_name="gate_echo", queue_name="gate")
    def echo(i: int) -> None:
        pass

    executor = DramatiqBatchExecutor()
    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    assert executor.batch_groups(intents)[0] is not None  # verified version: the fast path
    newer(dramatiq, REDIS_FAST_PATH)
    with pytest.warns(UntestedVersionWarning, match="dramatiq 99.0.0") as caught:
        assert executor.batch_groups(intents) == [None] * 5
        executor.publish_all(intents)
        executor.publish_all([Intent(task=echo, args=(9,))])
    assert len(caught) == 1  # once per process, not per message or per flush
    assert enqueued == [i.id for i in intents] + enqueued[-1:]
    ids = redis_db.lrange("airlock-gate:gate", 0, -1)
    assert len(ids) == 6 and len(redis_db.hgetall("airlock-gate:gate.msgs")) == 6
    broker.close()


def test_huey_on_an_unknown_version_sends_through_enqueue(newer: Any, redis_db: Any) -> None:
    require_module("huey", "huey")
    import huey as huey_module
    from huey import RedisHuey

    from airlock.integrations.executors.huey import HUEY_FAST_PATH, HueyBatchExecutor, huey_executor

    huey = RedisHuey("airlock_gate", url=redis_url(DB))

    @huey.task(name="gate.echo")
    def echo(i: int) -> None:
        pass

    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    for intent in intents:
        huey_executor(intent)
    stock = huey.storage.enqueued_items()
    huey.storage.flush_queue()

    newer(huey_module, HUEY_FAST_PATH)
    executor = HueyBatchExecutor()
    with pytest.warns(UntestedVersionWarning, match="huey 99.0.0") as caught:
        assert executor.batch_groups(intents) == [None] * 5
        executor.publish_all(intents)
    assert len(caught) == 1
    assert huey.storage.enqueued_items() == stock  # byte for byte: huey's own enqueue


def test_an_unknown_redis_py_turns_the_redis_paths_off(newer: Any, redis_db: Any) -> None:
    require_module("dramatiq", "dramatiq")
    import redis

    from airlock.integrations.executors._dramatiq_redis import REDIS_FAST_PATH

    newer(redis, REDIS_FAST_PATH)
    with pytest.warns(UntestedVersionWarning, match="redis 99.0.0"):
        assert not REDIS_FAST_PATH.enabled()


def matrix_pins(which: str) -> dict[str, str]:
    """``make test-matrix``'s pins: ``{"dramatiq": "1.15.0", ...}`` for OLDEST or NEWEST."""
    import re
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    line = re.search(rf"^MATRIX_{which}_PINS := (.*)$", makefile, re.M)
    assert line is not None, f"MATRIX_{which}_PINS not in the Makefile"
    pins = re.findall(r"([a-z_-]+)(?:\[[^\]]*\])?==([0-9.]+)", line.group(1))
    return dict(pins)


def test_the_matrix_runs_the_ends_of_every_verified_range() -> None:
    require_module("dramatiq", "dramatiq")
    require_module("huey", "huey")
    require_module("pika", "dramatiq")
    from airlock.integrations.executors._dramatiq_rabbitmq import RABBITMQ_FAST_PATH
    from airlock.integrations.executors._dramatiq_redis import REDIS_FAST_PATH
    from airlock.integrations.executors.huey import HUEY_FAST_PATH

    oldest, newest = matrix_pins("OLDEST"), matrix_pins("NEWEST")
    for gate in (REDIS_FAST_PATH, RABBITMQ_FAST_PATH, HUEY_FAST_PATH):
        for module, (low, high) in gate.ranges.items():
            assert release(oldest[module]) == release(low), (gate, module)  # the floor is run
            assert release(newest[module]) < release(high), (gate, module)  # so is the top
