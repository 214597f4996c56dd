"""The check every batched executor passes against a stock worker of its queue.

One flush of ``N`` intents (every other one with a ``_key``), one to a second queue when the
queue has them, and one delayed: the worker must run each exactly once, with its arguments,
message id (key or id) and queue, and the delayed one not before its time.
"""

from __future__ import annotations

import time
from typing import Any

import airlock
from integrations.common.recorder import Recorder
from tests.processes import wait_until

N = 300
DELAY_S = 3


def check_batched_flush(
    executor: Any,
    record: Any,
    recorder: Recorder,
    *,
    queue: str | None,
    delayed: dict[str, Any],
    special: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Flush through ``executor``, wait for the worker, assert what it ran; return the runs."""
    expected = N + 1 + (special is not None)
    enqueued_at = time.time()
    with airlock.scope(executor=executor) as scope:
        for i in range(N):
            airlock.enqueue(record, "bulk", i, square=i * i, _key=f"bulk-{i}" if i % 2 else None)
        if special is not None:
            airlock.enqueue(record, "special", "x", _dispatch_options=special)
        airlock.enqueue(record, "later", _dispatch_options=delayed)
    assert len(scope.dispatched) == expected

    def all_ran() -> list[dict[str, Any]]:
        entries = recorder.entries()
        return entries if len(entries) >= expected else []

    entries = wait_until(all_ran, timeout=60, what=f"the worker to run {expected} tasks")
    assert len(entries) == expected
    runs: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        runs.setdefault(entry["label"], []).append(entry)

    ids = {i.args[1]: i.key or i.id for i in scope.dispatched if i.args[0] == "bulk"}
    assert sorted(e["args"][0] for e in runs["bulk"]) == list(range(N))  # each exactly once
    for entry in runs["bulk"]:
        i = entry["args"][0]
        assert entry["kwargs"] == {"square": i * i}
        assert entry["task_id"] == ids[i]
        if queue is not None:
            assert entry["queue"] == queue
    if special is not None:
        (entry,) = runs["special"]
        assert entry["args"] == ["x"]
        assert entry["queue"] == next(iter(special.values()))
    (later,) = runs["later"]
    assert later["at"] >= enqueued_at + DELAY_S - 0.5  # not run before its time
    return entries
