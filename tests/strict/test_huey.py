"""Strict mode with huey's MemoryHuey: task calls, ``schedule`` and ``map`` are watched."""

from __future__ import annotations

import pytest

pytest.importorskip("huey")

from huey import MemoryHuey
from huey.api import TaskWrapper

from airlock.integrations.executors.huey import huey_executor
from tests.strict.suite import Case, StrictSuite, call_sites


@pytest.fixture
def case() -> Case:
    huey = MemoryHuey("airlock-strict", utc=True)

    @huey.task()
    def record(label: str) -> None:
        pass

    def originals() -> list[bool]:
        return [
            getattr(TaskWrapper, name).__module__ == "huey.api"
            for name in ("__call__", "schedule", "map")
        ]

    return Case(
        bypass=lambda: record("x"),  # BYPASS
        bypass_again=lambda: record.schedule(("y",), delay=60),  # BYPASS
        sites=call_sites(__file__),
        task=record,
        executor=huey_executor,
        sent=lambda: huey.pending_count() + huey.scheduled_count(),
        originals=originals,
    )


class TestHuey(StrictSuite):
    pass
