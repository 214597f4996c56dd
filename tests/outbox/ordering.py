"""Several relay threads over ordered rows, recording what each key receives (shared by
tests/outbox and the e2e suite in integrations/outbox)."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from django.db import connections
from django.utils import timezone

from airlock import Intent
from airlock.integrations.django import outbox
from airlock.integrations.django.outbox import recorder, registry
from airlock.integrations.django.outbox.models import OutboxMessage
from airlock.integrations.django.outbox.relay import Relay


@outbox.register(name="tests.ordered")
def ordered(key: str, seq: int) -> None:
    """Never runs here: the recording executor below stands in for the queue."""


def make_ordered_rows(keys: int, per_key: int, seed: int = 7) -> int:
    """``keys * per_key`` committed rows for ``ordered(key, seq)``, each key's rows in ``seq``
    order but the keys randomly interleaved; returns how many."""
    reference = registry.reference_for(ordered)
    left = {f"k{k}": 0 for k in range(keys)}
    pick = random.Random(seed)
    rows = []
    now = timezone.now()
    while left:
        key = pick.choice(list(left))
        seq = left[key]
        left[key] = seq + 1
        if seq + 1 == per_key:
            del left[key]
        intent = Intent(task=ordered, args=(key, seq), dispatch_options={"ordering_key": key})
        rows.append(OutboxMessage(message_id=intent.id, task=reference, ordering_key=key,
                                  payload=recorder.encode(intent), available_at=now))  # fmt: skip
    OutboxMessage.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


class Recording:
    """A thread-safe executor: appends (key, seq) in send order; the sends of ``failing`` (a
    (key, seq)) raise ``fails`` times first."""

    def __init__(self, failing: tuple[str, int] | None = None, fails: int = 0) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[str, int]] = []
        self.failing, self.fails, self.failed = failing, fails, 0

    def __call__(self, intent: Intent) -> None:
        key, seq = intent.args
        with self.lock:
            if (key, seq) == self.failing and self.failed < self.fails:
                self.failed += 1
                raise ConnectionError("broker unreachable")
            self.sent.append((key, seq))


def run_relays(
    count: int, executor: Recording, total: int, deadline: float, **options: Any
) -> None:
    """Run ``count`` relay threads until ``executor`` recorded ``total`` sends (or raise after
    ``deadline`` seconds), then stop them and wait for them."""
    relays = [Relay(executor=executor, **options) for _ in range(count)]
    errors: list[BaseException] = []

    def work(relay: Relay) -> None:
        try:
            relay.run(interval=0.01)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(r,), daemon=True) for r in relays]
    for thread in threads:
        thread.start()
    try:
        end = time.monotonic() + deadline
        while len(executor.sent) < total and not errors:
            if time.monotonic() > end:
                raise AssertionError(f"{len(executor.sent)} of {total} sent in {deadline}s")
            time.sleep(0.05)
    finally:
        for relay in relays:
            relay.stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)


def check_order(sent: list[tuple[str, int]], keys: int, per_key: int) -> None:
    """Each key got seq 0..per_key-1 exactly once, in that order."""
    by_key: dict[str, list[int]] = {}
    for key, seq in sent:
        by_key.setdefault(key, []).append(seq)
    assert sorted(by_key) == sorted(f"k{k}" for k in range(keys))
    for key, seqs in by_key.items():
        assert seqs == list(range(per_key)), key
