"""Run a suite's Redis variant through both publishing paths: per message and batched.

The batched executors (``celery_batch_executor``, ``dramatiq_batch_executor``,
``huey_batch_executor``) publish a flush in one Redis transaction, and a stock worker must consume
exactly what they send. A suite calls ``parametrize_paths`` from its ``pytest_generate_tests``:
each test then runs once per broker through the per-message executor, and once more on Redis
through the batched one, on the same worker processes (the module-scoped broker fixture is keyed
on the broker alone, so pytest keeps it across both Redis runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

PER_MESSAGE = "per-message"
BATCHED = "batched"


def parametrize_paths(metafunc: Any, broker_fixture: str, kinds: Sequence[str]) -> None:
    """Parametrize ``(broker_fixture, publish_path)``: every kind per message, Redis batched too.

    Redis must come last among ``kinds`` so that its two paths run back to back on one worker.
    """
    if broker_fixture not in metafunc.fixturenames:
        return
    combos = [(kind, PER_MESSAGE) for kind in kinds] + [("redis", BATCHED)]
    metafunc.parametrize(
        (broker_fixture, "publish_path"),
        combos,
        indirect=True,
        scope="module",
        ids=[kind if path == PER_MESSAGE else f"{kind}-{path}" for kind, path in combos],
    )


@dataclasses.dataclass
class Publishing:
    """The path a test runs through, and the size of each run the batched executor published."""

    path: str
    batches: list[int] = dataclasses.field(default_factory=list)

    @property
    def batched(self) -> bool:
        return self.path == BATCHED

    def expect(self, *sizes: int) -> list[int]:
        """``sizes`` on the batched path; nothing on the per-message path."""
        return list(sizes) if self.batched else []

    @property
    def via(self) -> str | None:
        """The worker's named executor for follow-ups: the batched one on the batched path."""
        return BATCHED if self.batched else None


def watch_batches(monkeypatch: pytest.MonkeyPatch, executor_cls: type, path: str) -> Publishing:
    """A ``Publishing`` for ``path`` that sees every run ``executor_cls`` publishes as a batch.

    Not a mock: the wrapper only counts each run and calls the real ``publish_batch``, so a test
    can prove its flush took the batched path (a run of one is sent alone, never as a batch).
    """
    publishing = Publishing(path)
    if publishing.batched:
        publish_batch = executor_cls.publish_batch  # type: ignore[attr-defined]

        def counting(self: Any, group: Any, intents: list[Any]) -> None:
            publishing.batches.append(len(intents))
            publish_batch(self, group, intents)

        monkeypatch.setattr(executor_cls, "publish_batch", counting)
    return publishing
