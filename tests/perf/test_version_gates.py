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
    require_module("celery", "celery")
    from airlock.integrations.executors._celery_route import AMQP_CLIENT, REDIS_CLIENT
    from airlock.integrations.executors._dramatiq_rabbitmq import RABBITMQ_FAST_PATH
    from airlock.integrations.executors._dramatiq_redis import REDIS_FAST_PATH
    from airlock.integrations.executors.celery import CELERY_FAST_PATH
    from airlock.integrations.executors.huey import HUEY_FAST_PATH

    oldest, newest = matrix_pins("OLDEST"), matrix_pins("NEWEST")
    gates = (REDIS_FAST_PATH, RABBITMQ_FAST_PATH, HUEY_FAST_PATH)
    for gate in (*gates, CELERY_FAST_PATH, REDIS_CLIENT, AMQP_CLIENT):
        for module, (low, high) in gate.ranges.items():
            assert release(oldest[module]) == release(low), (gate, module)  # the floor is run
            assert release(newest[module]) < release(high), (gate, module)  # so is the top


def celery_app(name: str) -> Any:
    """A real Celery app on Redis DB 9 with one task, ``gate.echo`` (a new app: no cached route)."""
    from celery import Celery

    app = Celery(name, broker=redis_url(DB), set_as_current=False)
    app.conf.broker_connection_retry_on_startup = False

    @app.task(name="gate.echo", shared=False)
    def echo(i: int) -> None:
        pass

    app.finalize()
    return app


def queued_ids(client: Any, queue: str = "celery") -> list[str]:
    """The task ids in a kombu Redis list, oldest first."""
    import json

    return [json.loads(raw)["headers"]["id"] for raw in reversed(client.lrange(queue, 0, -1))]


@pytest.mark.parametrize("library", ["celery", "kombu"])
def test_celery_on_an_unknown_version_sends_through_apply_async(
    newer: Any, redis_db: Any, library: str
) -> None:
    require_module("celery", "celery")
    import importlib

    from airlock.integrations.executors import _celery_route
    from airlock.integrations.executors.celery import CELERY_FAST_PATH, CeleryBatchExecutor

    app = celery_app(f"airlock_gate_{library}")
    echo = app.tasks["gate.echo"]
    executor = CeleryBatchExecutor()
    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    assert executor.batch_groups(intents) == [app] * 5  # verified versions: the fast path
    newer(importlib.import_module(library), CELERY_FAST_PATH)
    with pytest.warns(UntestedVersionWarning, match=f"{library} 99.0.0") as caught:
        assert executor.batch_groups(intents) == [None] * 5
        executor.publish_all(intents)
        executor.publish_all([Intent(task=echo, args=(9,))])
    assert len(caught) == 1  # once per process, not per message or per flush
    assert "celery_batch_executor's fast path is off" in str(caught[0].message)
    assert _celery_route._ROUTES.get(app) is None  # no connection of ours: apply_async's
    assert queued_ids(redis_db)[:5] == [i.id for i in intents] and len(queued_ids(redis_db)) == 6
    app.close()


def test_an_unknown_redis_py_sends_celery_intents_one_by_one(newer: Any, redis_db: Any) -> None:
    require_module("celery", "celery")
    import redis

    from airlock.integrations.executors._celery_route import REDIS_CLIENT, discard, route_for
    from airlock.integrations.executors.celery import CELERY_FAST_PATH, CeleryBatchExecutor

    app = celery_app("airlock_gate_redis")
    echo = app.tasks["gate.echo"]
    intents = [Intent(task=echo, args=(i,)) for i in range(5)]
    newer(redis, REDIS_CLIENT)
    with pytest.warns(UntestedVersionWarning, match="redis 99.0.0") as caught:
        assert CELERY_FAST_PATH.enabled()  # Celery and kombu are verified...
        CeleryBatchExecutor().publish_all(intents)
        CeleryBatchExecutor().publish_all(intents[:1])
    assert len(caught) == 1
    assert "Redis fast path is off" in str(caught[0].message)
    route = route_for(app)
    assert route is not None and route.kind is None  # ...the Redis route is not: apply_async
    discard(app, route)
    route.lock.release()
    assert queued_ids(redis_db) == [i.id for i in intents] + [intents[0].id]
    app.close()


def test_celery_executor_never_imports_the_fast_path(tmp_path: Any) -> None:
    """With every fast-path module failing to import, the stock executor and the batched one
    (its gate closed) still send: the fast path is imported only once the gate is open."""
    require_module("celery", "celery")
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = """
import sys, warnings
for name in ("_celery_batch", "_celery_messages", "_celery_route", "_celery_redis", "_celery_amqp"):
    sys.modules["airlock.integrations.executors." + name] = None  # importing it: ImportError
import celery
celery.__version__ = "99.0.0"
from celery import Celery
from airlock import Intent
from airlock.integrations.executors.celery import celery_batch_executor, celery_executor

app = Celery("airlock_gate_stock", broker="memory://", set_as_current=False)
sent = []
@app.task(name="gate.echo", shared=False)
def echo(i):
    pass
from celery import signals
def seen(sender=None, headers=None, **kwargs):
    sent.append(headers["id"])
signals.after_task_publish.connect(seen, weak=False)
one, two = Intent(task=echo, args=(1,)), Intent(task=echo, args=(2,))
celery_executor(celery_executor.prepare(one))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    celery_batch_executor.publish_all([two])
assert sent == [one.id, two.id], sent
assert len(caught) == 1 and "celery 99.0.0" in str(caught[0].message), caught
print("ok")
"""
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
