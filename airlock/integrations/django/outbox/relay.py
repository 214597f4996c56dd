"""The relay: claims ready outbox rows, sends them through the executor, settles each row.

One batch is one transaction: rows are claimed with ``SELECT … FOR UPDATE SKIP LOCKED`` where
the database has it (PostgreSQL, MySQL 8, MariaDB 10.6), so several relays share the table
without sending a row twice; SQLite has no row locks, so run one relay at a time there. Each
executor call runs in a savepoint of its own: a task that fails, even with a database error
that aborts PostgreSQL's transaction, takes back only its own writes, and the batch commits
the fate of every row. Once ``stop`` is set (SIGTERM), no further row goes to the executor: the
rows not tried stay pending as they were, and the batch commits the fates of those tried. A row
that fails is retried with exponential backoff and jitter; after ``MAX_ATTEMPTS`` it is ``dead``
with its last error. A row whose task reference or payload no registry or decoder accepts is
dead at once, and the relay carries on with the next row.

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

import json
import logging
import random
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DatabaseError, close_old_connections, connections, router, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from airlock import _config, _dispatch
from airlock._intent import Intent
from airlock._sending import sending
from airlock.exceptions import AirlockError, BadRow
from airlock.integrations import _propagation
from airlock.integrations.django.outbox import codec, conf, recorder, registry
from airlock.typing import Executor

__all__ = ["BadRow", "Counts", "Relay", "backoff", "decode", "revive"]

logger = logging.getLogger("airlock.outbox")

# Dispatch options that executors expect as datetimes; format 1 rows hold them as strings.
_DATETIME_OPTIONS = ("eta", "expires", "run_after")


@dataclass
class Counts:
    """What a relay did so far."""

    sent: int = 0
    retried: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead}


def backoff(attempts: int, settings: conf.OutboxSettings) -> timedelta:
    """Delay before retry number ``attempts``: doubling from ``BACKOFF``, capped, with jitter."""
    delay = min(settings.max_backoff, settings.backoff * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))


def decode(reference: str, payload: str) -> Intent:
    """Rebuild the intent a row stores; ``BadRow`` when anything in it is not as written."""
    return _decode(reference, payload)[0]


def _decode(reference: str, payload: str) -> tuple[Intent, dict[str, Any]]:
    try:
        task = registry.resolve(reference)
    except registry.UnknownTask as exc:
        raise BadRow(str(exc)) from None
    try:
        body = json.loads(payload)
    except ValueError as exc:
        raise BadRow(f"payload is not valid JSON ({exc}); the row was corrupted or edited") from (
            None
        )
    if not isinstance(body, dict):
        raise BadRow("payload is not a JSON object; the row was corrupted or edited")
    args, kwargs, options = body.get("args"), body.get("kwargs"), body.get("options")
    if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(options, dict):
        raise BadRow("payload lacks args (list), kwargs (object) or options (object)")
    for name in ("name", "origin", "key", "id"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise BadRow(f"payload field {name!r} is not a string")
    if not isinstance(body.get("id"), str):
        raise BadRow("payload has no intent id")
    version = body.get("v", 1)
    if version == recorder.FORMAT:
        try:
            args, kwargs, options = codec.decode(args), codec.decode(kwargs), codec.decode(options)
        except (ValueError, RecursionError) as exc:
            raise BadRow(f"payload does not decode ({exc}); the row was corrupted or edited") from (
                None
            )
    elif version == 1:  # written before the codec: plain JSON, time options as ISO text
        for opt in _DATETIME_OPTIONS:
            if isinstance(options.get(opt), str):
                parsed = parse_datetime(options[opt])
                if parsed is not None:
                    options[opt] = parsed
    else:
        raise BadRow(f"payload format {version!r} is unknown (written by a newer airlock?)")
    intent = Intent(
        task=task,
        args=tuple(args),
        kwargs=kwargs,
        name=body.get("name"),
        origin=body.get("origin"),
        dispatch_options=options,
        key=body.get("key"),
        id=body["id"],
    )
    return intent, body


class Relay:
    """Sends ready outbox rows; ``run_batch()`` once, ``drain()`` until empty, ``run()`` forever.

    ``executor`` defaults to ``AIRLOCK["OUTBOX"]["EXECUTOR"]``, else the configured one
    (``AIRLOCK["EXECUTOR"]``); an intent with an
    ``executor`` dispatch option goes to that named executor. Not thread-safe: one per thread.
    """

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        batch_size: int | None = None,
        database: str | None = None,
        settings: conf.OutboxSettings | None = None,
    ) -> None:
        from airlock.integrations.django.outbox.models import OutboxMessage

        current = recorder.current_settings()  # also registers TASKS and CELERY_APP
        self.settings = settings or current
        if executor is None and self.settings.executor is not None:
            executor = _config.resolve_executor(self.settings.executor, 'OUTBOX["EXECUTOR"]')
        self.executor = executor
        self.batch_size = batch_size or self.settings.batch_size
        self.alias = database or self.settings.database or router.db_for_write(OutboxMessage)
        self.counts = Counts()
        self._ordered = False  # the last batch held rows with an ordering key
        self.stop = threading.Event()
        self._rows = OutboxMessage.objects.using(self.alias)

    # -- public ---------------------------------------------------------------------------------
    @property
    def claims_rows(self) -> bool:
        """True where the database can lock claimed rows, so several relays may run."""
        return bool(connections[self.alias].features.has_select_for_update)

    def backlog(self) -> int:
        """How many rows are ready to send now."""
        return int(self._ready().count())

    def run_batch(self) -> int:
        """Claim up to ``batch_size`` ready rows, send them, settle them; returns how many."""
        with transaction.atomic(using=self.alias):
            rows = list(self._claim())
            if rows:
                rows, follow = self._runs(rows)
                self._send(rows, follow)
        self._ordered = any(row.ordering_key is not None for row in rows)
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
            if not connections[self.alias].in_atomic_block:  # e.g. a test's transaction
                close_old_connections()  # a broken or expired connection is replaced
            try:
                handled = self.drain(progress)
            except Exception:
                logger.exception("airlock outbox relay: batch failed; retrying in %ss", interval)
                handled = 0
            if not handled:
                self.stop.wait(interval)

    # -- internals ------------------------------------------------------------------------------
    def _ready(self) -> Any:
        return self._rows.filter(status="pending", available_at__lte=timezone.now())

    def _claim(self) -> Any:
        earlier = self._rows.filter(
            ordering_key=OuterRef("ordering_key"), status="pending", id__lt=OuterRef("id")
        )
        rows = self._ready().filter(Q(ordering_key__isnull=True) | ~Exists(earlier))
        rows = rows.order_by("available_at", "id")
        features = connections[self.alias].features
        if features.has_select_for_update:
            rows = rows.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
        return rows[: self.batch_size]

    def _runs(self, heads: list[Any]) -> tuple[list[Any], set[int]]:
        """The claimed rows, each key's head followed by the ready rows after it (in id order,
        up to the first one not ready), while the batch has room; and the pks of those."""
        room = self.batch_size - len(heads)
        keyed: dict[str, Any] = {r.ordering_key: r for r in heads if r.ordering_key is not None}
        if room <= 0 or not keyed:
            return heads, set()
        after: Any = self._rows.filter(
            ordering_key__in=list(keyed), status="pending", id__gt=min(r.id for r in keyed.values())
        ).order_by("id")[: room + len(keyed)]
        now = timezone.now()
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
        return rows, {r.pk for run in runs.values() for r in run}

    def _send(self, rows: list[Any], follow: Collection[int] = ()) -> None:
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
                self._dead(
                    row,
                    "undecided: its process ended before the scope decided or "
                    'sent it (AIRLOCK["OUTBOX"]["UNDECIDED"] = "dead"); retry it from '
                    "the admin if it should go",
                )
                continue
            key = row.ordering_key
            if key in cut and row.pk in follow:
                continue  # untouched: sent after the rows before it, in a later batch
            try:
                stored, body = _decode(row.task, row.payload)
                executor, intent = _dispatch.resolve(stored, default)
            except Exception as exc:
                self._dead(row, f"{type(exc).__name__}: {exc}")
                continue
            if key is not None:
                if hasattr(executor, "after_flush"):  # sends at the end: one row of the key
                    cut.add(key)
                    if row.pk in follow:
                        continue
                keys[intent.id] = key
            _propagation.restore(intent, body.get("trace"))
            wrapper = guarded.get(id(executor))
            if wrapper is None:
                wrapper = guarded[id(executor)] = _Guarded(
                    executor, self.alias, self.stop, keys, blocked
                )
            pinned[id(intent)] = wrapper
            sink.rows[id(intent)] = row
            batch.append(intent)
        if batch:
            _dispatch.send(batch, sink, default, isolate=True, pinned=pinned)
        if sink.sent:
            self._rows.filter(pk__in=sink.sent).update(
                status="sent", sent_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
            )
            self.counts.sent += len(sink.sent)

    def _failed(self, row: Any, exc: BaseException) -> None:
        attempts = row.attempts + 1
        message = f"{type(exc).__name__}: {exc}"
        if attempts >= self.settings.max_attempts:
            self._dead(row, f"gave up after {attempts} attempts; last error: {message}", attempts)
            return
        self._rows.filter(pk=row.pk).update(
            attempts=attempts,
            last_error=message,
            available_at=timezone.now() + backoff(attempts, self.settings),
        )
        self.counts.retried += 1
        logger.warning("airlock outbox: %s failed (attempt %s): %s", row, attempts, message)

    def _dead(self, row: Any, message: str, attempts: int | None = None) -> None:
        attempts = row.attempts if attempts is None else attempts
        self._rows.filter(pk=row.pk).update(status="dead", last_error=message, attempts=attempts)
        self.counts.dead += 1
        logger.error("airlock outbox: %s is dead: %s", row, message)


def _undecided(row: Any) -> bool:
    """Never tried and no fate reported: its process died first. A row with an ordering key
    that its scope released (``recorder.handoff``) has ``available_at == created_at``."""
    if row.attempts or row.last_error:
        return False
    return row.ordering_key is None or row.available_at != row.created_at


class _Stopped(AirlockError):
    """The relay was stopped before this row went to the executor: the row stays as it was."""


class _Guarded:
    """An executor as the relay calls it: never once ``stop`` is set, nor for a row whose
    ordering key had a row fail earlier in the batch; each call (and ``after_flush``) in a
    savepoint.

    A failure rolls back to the savepoint, so the batch transaction stays usable and only that
    row's writes are undone. A task that caught a database error itself and returned has left
    its transaction marked for rollback: that counts as a failure of its row too. A batch
    already handed to a batching executor still goes out in ``after_flush``.
    """

    def __init__(
        self,
        executor: Executor,
        alias: str,
        stop: threading.Event,
        keys: dict[str, str],
        blocked: set[str],
    ) -> None:
        self.executor = executor
        self.alias = alias
        self.stop = stop
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
        except BaseException:
            if key is not None:
                self.blocked.add(key)  # the key's later rows in this batch stay untouched
            raise

    def _after_flush(self) -> None:
        self._guarded(self.executor.after_flush)  # type: ignore[attr-defined]

    def _guarded(self, call: Callable[..., object], *args: Any) -> object:
        with transaction.atomic(using=self.alias), sending():  # strict mode: airlock's own
            result = call(*args)
            if connections[self.alias].needs_rollback:
                raise DatabaseError(
                    "the task caught a database error and returned: its writes are rolled back"
                )
        return result


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
            self.sent.append(row.pk)
        elif not isinstance(detail, _Stopped):  # a row never tried keeps its attempts
            self.relay._failed(row, detail)


def revive(rows: Any, note: str = "retried") -> int:
    """Make dead rows pending again with a fresh set of attempts; returns how many."""
    count = 0
    for row in rows.filter(status="dead"):
        row.status = "pending"
        row.attempts = 0
        row.available_at = timezone.now()
        row.last_error = f"{note} after: {row.last_error}"[:10000]
        row.save(update_fields=["status", "attempts", "available_at", "last_error"])
        count += 1
    return count
