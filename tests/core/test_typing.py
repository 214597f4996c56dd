"""The executor hook protocols: mypy catches a misspelt hook, and airlock's executors use them."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airlock.executors import (
    batching,
    broadcast,
    instrumented,
    route,
    thread_pool_executor,
    with_circuit_breaker,
    with_fallback,
    with_rate_limit,
    with_retry,
)
from airlock.typing import ExecutorWithHooks, SupportsAfterFlush, SupportsClose, SupportsPrepare
from tests.processes import ROOT

MISSPELT = '''
from airlock import Intent
from airlock.typing import SupportsAfterFlush, SupportsPrepare


class Batches(SupportsAfterFlush, SupportsPrepare):
    def __call__(self, intent: Intent) -> None:
        pass

    def after_flsuh(self) -> None:  # misspelt
        pass

    def prepare(self, intent: Intent) -> None:  # wrong return type
        pass


Batches()
'''


def test_mypy_strict_reports_a_misspelt_or_mistyped_hook(tmp_path: Path):
    pytest.importorskip("mypy")
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent(MISSPELT))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MYPYPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(sample)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'abstract attribute "after_flush"' in done.stdout
    assert 'Return type "None" of "prepare" incompatible' in done.stdout


def noop(intent: object) -> None:
    pass


def test_every_wrapper_has_all_three_hooks():
    wrappers = [
        with_retry(noop), with_fallback(noop, noop), with_rate_limit(noop, per_second=5),
        with_circuit_breaker(noop), instrumented(noop), broadcast(noop, noop),
        route({"a": noop}), batching(noop),
    ]
    for wrapper in wrappers:
        assert isinstance(wrapper, ExecutorWithHooks), wrapper


def test_destinations_declare_the_hooks_they_have():
    pool = thread_pool_executor(max_workers=1)
    try:
        assert isinstance(pool, SupportsClose)
    finally:
        pool.close()
    for module, name in [
        ("airlock.integrations.executors.celery", "celery_executor"),
        ("airlock.integrations.executors.celery", "celery_batch_executor"),
        ("airlock.integrations.executors.dramatiq", "dramatiq_executor"),
        ("airlock.integrations.executors.dramatiq", "dramatiq_batch_executor"),
        ("airlock.integrations.executors.huey", "huey_executor"),
        ("airlock.integrations.executors.huey", "huey_batch_executor"),
    ]:
        pytest.importorskip(module.rsplit(".", 1)[1])
        executor = getattr(importlib.import_module(module), name)
        assert isinstance(executor, SupportsPrepare), name
        assert isinstance(executor, SupportsAfterFlush) == ("batch" in name), name
        assert type(executor).prepare is not SupportsPrepare.prepare, name  # its own, not the stub
