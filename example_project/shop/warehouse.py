"""The warehouse's HTTP API, simulated: it can be told to time out the next N calls.

A real shop would POST to the warehouse here. The demo uses ``outage(n)`` to show a task that
fails and is retried by the executor (``with_retry`` in shop/executors.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class WarehouseTimeout(ConnectionError):
    """The warehouse API did not answer."""


_lock = threading.Lock()
_failures_left = 0
calls: list[tuple[int, str]] = []
"""Every call made, as ``(order_id, "ok" | "timed out")``, for the demo to show."""


def request_pickup(order_id: int) -> None:
    """Book a pickup for an order; raises ``WarehouseTimeout`` during a simulated outage."""
    global _failures_left
    with _lock:
        failing = _failures_left > 0
        if failing:
            _failures_left -= 1
        calls.append((order_id, "timed out" if failing else "ok"))
    if failing:
        raise WarehouseTimeout(f"warehouse API timed out booking a pickup for order {order_id}")


@contextmanager
def outage(failures: int) -> Iterator[None]:
    """Make the next ``failures`` calls time out (for the duration of the block)."""
    global _failures_left
    with _lock:
        _failures_left = failures
    try:
        yield
    finally:
        with _lock:
            _failures_left = 0
