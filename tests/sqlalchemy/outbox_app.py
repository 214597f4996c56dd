"""The task and outbox the SQLAlchemy outbox tests share with their relay subprocesses.

``deliver(n, note)`` appends ``start n`` and ``done n`` to the file named by
``AIRLOCK_OUTBOX_LOG``; with ``note="hold"`` it waits (deadline 30 s) between the two for the
file ``AIRLOCK_OUTBOX_GATE`` to exist, so a test can signal the relay mid-send. ``outbox``
reads its schema from ``AIRLOCK_OUTBOX_SCHEMA`` (PostgreSQL) when a subprocess imports it.
"""

from __future__ import annotations

import os
import time

from airlock.integrations.sqlalchemy.outbox import Outbox, register

outbox = Outbox(
    schema=os.environ.get("AIRLOCK_OUTBOX_SCHEMA") or None, grace=0.0, backoff=0.0, interval=0.05
)


@register(name="tests.sqlalchemy.deliver")
def deliver(n: int, note: str = "") -> None:
    log = os.environ.get("AIRLOCK_OUTBOX_LOG")
    if log is None:
        return
    with open(log, "a") as out:
        out.write(f"start {n}\n")
    gate = os.environ.get("AIRLOCK_OUTBOX_GATE")
    if gate and note == "hold":
        deadline = time.monotonic() + 30
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
    with open(log, "a") as out:
        out.write(f"done {n}\n")


def log_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
