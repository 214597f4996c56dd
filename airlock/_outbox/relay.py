"""The relay, apart from its storage: claims ready rows, sends them, settles each one.

``Relay`` holds every rule and leaves the table to a subclass (the Django ORM one in
``airlock.integrations.django.outbox.relay``, the SQLAlchemy Core one in
``airlock.integrations.sqlalchemy.outbox``), which answers a few questions: open the batch
transaction, claim the ready rows, list the rows after some keys' heads, guard one executor call,
and write a row's fate.

One batch is one transaction: rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` where
the database has it (PostgreSQL, MySQL 8, MariaDB 10.6), so several relays share the table
without sending a row twice; SQLite has no row locks, so run one relay at a time there. Each
executor call runs guarded (a savepoint of its own in Django, where a task shares the relay's
connection): a task that fails takes back only its own writes, and the batch commits the fate of
every row. Once ``stop`` is set (SIGTERM), no further row goes to the executor: the rows not
tried stay pending as they were, and the batch commits the fates of those tried. A row that fails
is retried with exponential backoff and jitter; after ``max_attempts`` it is ``dead`` with its
last error. A row whose task reference or payload no registry or decoder accepts is dead at once,
and the relay carries on with the next row.

Ordering keys: a row with an ``ordering_key`` is claimed only while it is its key's *head*,
the oldest row (lowest id) of that key still ``pending``, whether it waits for its scope, for
a retry or for a relay. The claim query says so itself (``NOT EXISTS`` an earlier pending row
of the key), so a claim locks at most one row per key and the key's next row becomes
claimable only when the head's fate (``sent`` or ``dead``: a dead row releases its key) is
committed. Several relays keep this without any lock of their own: in PostgreSQL's READ
COMMITTED each claim sees the committed state as of its start; the head another relay holds
is skipped (``SKIP LOCKED``) while it is still ``pending`` in that view, so the row after it is
no head and is not claimed either; once the head's fate commits, the next claim sees the new
head. A relay dying mid-batch rolls its fates back: the head is pending again and may be sent
twice, but the rows after it never go before it. Rows of different keys, and rows without a
key, are claimed side by side as before.

While the batch has room, each claimed head brings the ready rows after it (``_runs``; up to
the first one not ready): no other relay can take them, since the head stays pending for as
long as this batch holds it. They go in id order after their head; once a row of the key fails
(or ``stop`` is set) the key's later rows are not tried and stay as they were. A batching
executor (``after_flush``) sends everything at the end, too late to hold anything back, so it
gets only the head of each key per batch.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from airlock import _config, _dispatch
from airlock._intent import Intent
from airlock._outbox import payload
from airlock._outbox.settings import OutboxSettings
from airlock._sending import sending
from airlock.exceptions import AirlockError
from airlock.executors._unsent import adopt_unsent
from airlock.integrations import _propagation
from airlock.typing import Executor

__all__ = ["Counts", "Relay", "backoff", "label"]

logger = logging.getLogger("airlock.outbox")


@dataclass
class Counts:
    """What a relay did so far."""

    sent: int = 0
    retried: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead}


def backoff(attempts: int, settings: OutboxSettings) -> timedelta:
    """Delay before retry number ``attempts``: doubling from ``BACKOFF``, capped, with jitter."""
    delay = min(settings.max_backoff, settings.backoff * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def label(row: Any) -> str:
    """How logs name a row: ``<task> [<status>] #<id>``."""
    return f"{row.task} [{row.status}] #{row.id}"


class Relay:
    """Sends ready outbox rows; ``run_batch()`` once, ``drain()`` until empty, ``run()`` forever.

    A storage subclass sets ``settings``, ``executor`` and ``batch_size`` and answers the
    storage questions below. An intent with an ``executor`` dispatch option goes to that named
    executor. Not thread-safe: one per thread.
    """

    settings: OutboxSettings
    executor: Executor | None
    batch_size: int
    # Reads the time options of format 1 payloads (written before the codec), if any exist.
    parse_datetime: Callable[[str], datetime | None] | None = None

    def __init__(self) -> None:
        self.counts = Counts()
        self._ordered = False  # the last batch held rows with an ordering key
        self.stop = threading.Event()

    # -- storage: what a subclass answers ------------------------------------------------------
    @property
    def claims_rows(self) -> bool:
        """True where the database can lock claimed rows, so several relays may run."""
        raise NotImplementedError

    def backlog(self) -> int:
        """How many rows are ready to send now."""
        raise NotImplementedError

    def _now(self) -> datetime:
        raise NotImplementedError

    def _batch(self) -> AbstractContextManager[Any]:
        """The transaction of one batch: committed when the block ends, rolled back if it raises."""
        raise NotImplementedError

    def _claim(self) -> list[Any]:
        """Lock and return up to ``batch_size`` ready rows that are no key's later row, ordered
        by ``available_at`` then id (skipping rows other relays hold, where the database can)."""
        raise NotImplementedError

    def _after(self, keys: list[str], after: int, limit: int) -> list[Any]:
        """Up to ``limit`` pending rows of ``keys`` with an id above ``after``, by id."""
        raise NotImplementedError

    def _guard(self) -> AbstractContextManager[Any]:
        """Around each executor call: undo what it wrote if it raises (default: nothing to do)."""
        return _nothing()

    def _set_sent(self, ids: list[int]) -> None:
        raise NotImplementedError

    def _set_retry(self, row: Any, attempts: int, message: str, available_at: datetime) -> None:
        raise NotImplementedError

    def _set_dead(self, row: Any, message: str, attempts: int) -> None:
        raise NotImplementedError

    def _refresh(self) -> None:
        """Before each drain of ``run``: replace a broken or expired connection."""

    # -- public ---------------------------------------------------------------------------------
    def run_batch(self) -> int:
        """Claim up to ``batch_size`` ready rows, send them, settle them; returns how many.

        An interrupt (``KeyboardInterrupt``, ``SystemExit``) while sending propagates once the
        batch has committed what it settled: the rows that went are marked sent (or they would
        go again); the rest stay as they were."""
        interrupt: BaseException | None = None
        with self._batch():
            rows = self._claim()
            if rows:
                rows, follow = self._runs(rows)
                interrupt = self._send(rows, follow)
        self._ordered = any(row.ordering_key is not None for row in rows)
        if interrupt is not None:
            raise interrupt
        return len(rows)

    def drain(self, progress: Callable[[int], None] | None = None) -> int:
        """Run batches until none is ready or ``stop`` is set; returns the rows handled."""
        total = 0
        while not self.stop.is_set():
            handled = self.run_batch()
            if progress is not None and handled:
                progress(handled)
            total += handled
            # A short batch drained the table, unless it sent heads of ordering keys: the rows
            # after them are ready only now.
            if handled == 0 or (handled < self.batch_size and not self._ordered):
                break
        return total

    def run(
        self, interval: float | None = None, progress: Callable[[int], None] | None = None
    ) -> None:
        """Drain, sleep ``interval`` when idle, repeat until ``stop`` is set (e.g. by SIGTERM).

        A database error is logged and retried after the interval: a relay outlives a restart.
        """
        interval = self.settings.interval if interval is None else interval
        while not self.stop.is_set():
            self._refresh()
            try:
                handled = self.drain(progress)
            except Exception:
                logger.exception("airlock outbox relay: batch failed; retrying in %ss", interval)
                handled = 0
            if not handled:
                self.stop.wait(interval)

    # -- internals ------------------------------------------------------------------------------
    def _runs(self, heads: list[Any]) -> tuple[list[Any], set[int]]:
        """The claimed rows, each key's head followed by the ready rows after it (in id order,
        up to the first one not ready), while the batch has room; and the ids of those."""
        room = self.batch_size - len(heads)
        keyed: dict[str, Any] = {r.ordering_key: r for r in heads if r.ordering_key is not None}
        if room <= 0 or not keyed:
            return heads, set()
        after = self._after(list(keyed), min(r.id for r in keyed.values()), room + len(keyed))
        now = self._now()
        runs: dict[str, list[Any]] = {key: [] for key in keyed}
        cut: set[str] = set()
        for row in after:
            key: str = row.ordering_key
            if key in cut or row.id <= keyed[key].id:
                continue
            if row.available_at > now:  # waits for its scope or a retry: the rest waits too
                cut.add(key)
                continue
            runs[key].append(row)
            room -= 1
            if not room:
                break
        rows = []
        for head in heads:
            rows.append(head)
            rows.extend(runs.get(head.ordering_key, ()))
        return rows, {r.id for run in runs.values() for r in run}

    def _send(self, rows: list[Any], follow: Collection[int] = ()) -> BaseException | None:
        """Send the rows' intents and settle the rows; an interrupt is returned, not raised."""
        batch: list[Intent] = []
        keys: dict[str, str] = {}  # intent id -> ordering key, for the rows that have one
        blocked: set[str] = set()  # keys whose row failed or stopped in this batch
        cut: set[str] = set()  # keys whose later rows wait for the next batch
        pinned: dict[int, Executor] = {}
        guarded: dict[int, _Guarded] = {}  # one wrapper per executor: batches stay whole
        default = self.executor or _config.default_executor()
        sink = _Rows(self)
        for row in rows:
            if self.settings.undecided == "dead" and _undecided(row):
                self._dead(row, self._undecided_message())
                continue
            key = row.ordering_key
            if key in cut and row.id in follow:
                continue  # untouched: sent after the rows before it, in a later batch
            try:
                stored, body = payload.decode(row.task, row.payload, self.parse_datetime)
                executor, intent = _dispatch.resolve(stored, default)
            except Exception as exc:
                self._dead(row, f"{type(exc).__name__}: {exc}")
                continue
            if key is not None:
                if hasattr(executor, "after_flush"):  # sends at the end: one row of the key
                    cut.add(key)
                    if row.id in follow:
                        continue
                keys[intent.id] = key
            _propagation.restore(intent, body.get("trace"))
            wrapper = guarded.get(id(executor))
            if wrapper is None:
                wrapper = guarded[id(executor)] = _Guarded(executor, self, keys, blocked)
            pinned[id(intent)] = wrapper
            sink.rows[id(intent)] = row
            batch.append(intent)
        interrupt: BaseException | None = None
        if batch:
            try:
                _dispatch.send(batch, sink, default, isolate=True, pinned=pinned)
            except Exception:
                raise
            except BaseException as exc:  # every intent has its fate: keep them, then stop
                interrupt = exc
        if sink.sent:
            self._set_sent(sink.sent)
            self.counts.sent += len(sink.sent)
        return interrupt

    def _undecided_message(self) -> str:
        """The error a row gets when ``undecided`` is "dead" and it is undecided."""
        return (
            "undecided: its process ended before the scope decided or sent it (the outbox's "
            'undecided setting is "dead"); revive it if it should go'
        )

    def _failed(self, row: Any, exc: BaseException) -> None:
        attempts = row.attempts + 1
        message = f"{type(exc).__name__}: {exc}"
        if attempts >= self.settings.max_attempts:
            self._dead(row, f"gave up after {attempts} attempts; last error: {message}", attempts)
            return
        self._set_retry(row, attempts, message, self._now() + backoff(attempts, self.settings))
        self.counts.retried += 1
        logger.warning("airlock outbox: %s failed (attempt %s): %s", label(row), attempts, message)

    def _dead(self, row: Any, message: str, attempts: int | None = None) -> None:
        attempts = row.attempts if attempts is None else attempts
        self._set_dead(row, message, attempts)
        self.counts.dead += 1
        logger.error("airlock outbox: %s is dead: %s", label(row), message)


def _undecided(row: Any) -> bool:
    """Never tried and no fate reported: its process died first. A row with an ordering key
    that its scope released (``handoff``) has ``available_at == created_at``."""
    if row.attempts or row.last_error:
        return False
    return row.ordering_key is None or row.available_at != row.created_at


class _nothing(AbstractContextManager[None]):
    def __exit__(self, *exc: object) -> None:
        return None


class _Stopped(AirlockError):
    """The relay was stopped before this row went to the executor: the row stays as it was."""


class _Guarded:
    """An executor as the relay calls it: never once ``stop`` is set, nor for a row whose
    ordering key had a row fail earlier in the batch; each call (and ``after_flush``) inside the
    relay's guard (a savepoint in Django).

    A failure rolls back to the savepoint, so the batch transaction stays usable and only that
    row's writes are undone. A batch already handed to a batching executor still goes out in
    ``after_flush``.
    """

    def __init__(
        self, executor: Executor, relay: Relay, keys: dict[str, str], blocked: set[str]
    ) -> None:
        self.executor = executor
        self.relay = relay
        self.stop = relay.stop
        self.keys = keys
        self.blocked = blocked
        if hasattr(executor, "after_flush"):
            self.after_flush = self._after_flush

    def __call__(self, intent: Intent) -> object:
        key = self.keys.get(intent.id)
        if self.stop.is_set() or key in self.blocked:
            raise _Stopped()
        try:
            return self._guarded(self.executor, intent)
        except BaseException as exc:
            if key is not None:
                self.blocked.add(key)  # the key's later rows in this batch stay untouched
            adopt_unsent(exc, self.executor, self)  # an interrupted batch said what went
            raise

    def _after_flush(self) -> None:
        try:
            self._guarded(self.executor.after_flush)  # type: ignore[attr-defined]
        except BaseException as exc:
            adopt_unsent(exc, self.executor, self)
            raise

    def _guarded(self, call: Callable[..., object], *args: Any) -> object:
        with self.relay._guard(), sending():  # strict mode: airlock's own
            return call(*args)


class _Rows:
    """The relay's side of the dispatch engine: a fate settles the row behind the intent."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.rows: dict[int, Any] = {}
        self.sent: list[int] = []

    def settle_all(self, intents: Sequence[Intent], fate: str, detail: Any) -> None:
        for intent in intents:
            self.settle(intent, fate, detail)

    def settle(self, intent: Intent, fate: str, detail: Any) -> None:
        row = self.rows[id(intent)]
        _propagation.relayed(intent, fate, detail)
        if fate == _dispatch.DISPATCHED:
            self.sent.append(row.id)
        elif isinstance(detail, Exception) and not isinstance(detail, _Stopped):
            self.relay._failed(row, detail)
        # else: never tried (the relay stopped) or interrupted: the row keeps its attempts
