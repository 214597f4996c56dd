"""Test helpers: see what code would dispatch, and what became of each intent.

``capture()`` records every intent enqueued while it is active together with its fate
(dispatched, failed, dropped by a policy, discarded, rolled back, or still pending) and, for
executors that run tasks later (pools, Ray), the task's outcome (completed or task_failed).
By default it also swaps the configured executors for a recorder that runs nothing, so tests observe
effects without causing them. Built on ``airlock._events``; works without Django.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airlock import _config, _events
from airlock._intent import Intent
from airlock._scope import Scope

__all__ = ["Capture", "Record", "capture", "null_executor"]

PENDING = "pending"
_FATES = {
    _events.DISPATCHED: "dispatched",
    _events.FAILED: "failed",
    _events.DROPPED: "dropped",
    _events.DISCARDED: "discarded",
    _events.ROLLED_BACK: "rolled_back",
}


def null_executor(intent: Intent) -> None:
    """An executor that runs nothing (what ``capture()`` dispatches to by default)."""


@dataclass
class Record:
    """One intent and its fate.

    ``fate`` is ``"pending"`` (buffered, or waiting for a commit), ``"dispatched"``,
    ``"failed"``, ``"dropped"``, ``"discarded"`` or ``"rolled_back"``. ``detail`` says more:
    the executor (dispatched), the exception (failed), the policy or ``"duplicate key"``
    (dropped), the database alias (rolled back).

    ``outcome`` is the task's own outcome where an executor runs it later (thread/process
    pools, Ray) and reports it: ``None`` until then, ``"completed"`` (``result`` holds what the
    task returned) or ``"task_failed"`` (``error`` holds its exception). It is not a fate: the
    intent stays ``"dispatched"``.
    """

    intent: Intent
    fate: str = PENDING
    detail: Any = None
    scope: Scope | None = field(default=None, repr=False)
    outcome: str | None = None
    result: Any = None
    error: BaseException | None = None

    @property
    def task(self) -> Any:
        return self.intent.task

    @property
    def name(self) -> str:
        return self.intent.name

    @property
    def args(self) -> tuple[Any, ...]:
        return self.intent.args

    @property
    def kwargs(self) -> dict[str, Any]:
        return self.intent.kwargs

    @property
    def dispatch_options(self) -> Any:
        return self.intent.dispatch_options

    def __str__(self) -> str:
        detail = f" by {self.detail!r}" if self.fate == "dropped" else ""
        detail += f" on {self.detail!r}" if self.fate == "rolled_back" else ""
        return f"{self.intent}: {self.fate}{detail}"


class Capture:
    """What ``capture()`` saw: a record per intent, in enqueue order."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    def _on_event(self, event: str, intent: Intent, scope: Scope | None, detail: Any) -> None:
        with self._lock:
            record = self._records.get(intent.id)
            if record is None:
                record = self._records[intent.id] = Record(intent, scope=scope)
            if event in _FATES:
                record.fate, record.detail = _FATES[event], detail
            elif event == _events.COMPLETED:
                record.outcome, record.result = event, detail
            elif event == _events.TASK_FAILED:
                record.outcome, record.error = event, detail
            elif event == _events.CAPTURED:
                record.scope = scope

    @property
    def records(self) -> list[Record]:
        """Every record, in the order the intents were first seen."""
        with self._lock:
            return list(self._records.values())

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    @property
    def intents(self) -> list[Intent]:
        """Every intent seen."""
        return [r.intent for r in self.records]

    def with_fate(self, fate: str) -> list[Record]:
        """The records whose fate is ``fate``."""
        return [r for r in self.records if r.fate == fate]

    @property
    def dispatched(self) -> list[Record]:
        return self.with_fate("dispatched")

    @property
    def failed(self) -> list[Record]:
        return self.with_fate("failed")

    @property
    def dropped(self) -> list[Record]:
        return self.with_fate("dropped")

    @property
    def discarded(self) -> list[Record]:
        return self.with_fate("discarded")

    @property
    def rolled_back(self) -> list[Record]:
        return self.with_fate("rolled_back")

    @property
    def pending(self) -> list[Record]:
        return self.with_fate(PENDING)

    def named(self, name: str) -> list[Record]:
        """The records of intents with this name (``_name`` or the task's short name)."""
        return [r for r in self.records if r.name == name]

    def fate_of(self, intent: Intent) -> str:
        """The fate of one intent; ``KeyError`` if it was never seen."""
        return self._records[intent.id].fate

    def __repr__(self) -> str:
        return f"<Capture {[str(r) for r in self.records]}>"


@contextmanager
def capture(*, execute: bool = False) -> Iterator[Capture]:
    """Record every intent enqueued in this block and its fate, process-wide.

    With ``execute=False`` (default) the configured executor and every named executor are
    replaced by ``null_executor`` for the block, so nothing runs; intents still reach the fate
    ``"dispatched"``. Scopes given an explicit ``executor=`` (or created before the block) keep
    theirs. ``execute=True`` only observes.
    """
    record = Capture()
    saved: dict[str, Any] | None = None
    if not execute:
        live = _config.current()
        with _config._lock:
            saved = {"executor": live["executor"], "executors": live["executors"]}
            live["executor"] = null_executor
            live["executors"] = {name: null_executor for name in live["executors"]}
            live["resolved"] = None
    unsubscribe = _events.subscribe(record._on_event)
    try:
        yield record
    finally:
        unsubscribe()
        if saved is not None:
            with _config._lock:
                _config.current().update(saved, resolved=None)
