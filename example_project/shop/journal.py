"""What airlock did, per request: each intent and its fate, for the /airlock/ page and the demo.

``record(label)`` watches a block with public API only: ``airlock.testing.capture(execute=True)``
sees every intent's fate (it only observes: the executors run as configured), and a local
policy (``airlock.policy``) that lets everything through notes the intents enqueued in this
block, in this context. Capture is process-wide, the policy is not: concurrent requests do not
mix. When the block ends the record is saved as a ``JournalRecord`` row in the shop's database,
so ``manage.py demo`` and ``runserver`` show the same journal. The newest ``KEEP`` are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

from django.db import transaction
from django.http import HttpRequest, HttpResponse

import airlock
from airlock.testing import Capture, capture
from airlock.testing import Record as Captured

KEEP = 25
FATES = {  # capture's fate -> the journal's word
    "pending": "buffered",
    "dropped": "dropped",
    "discarded": "discarded",
    "rolled_back": "rolled back",
    "dispatched": "dispatched",
    "failed": "failed",
}


@dataclass
class Entry:
    """One intent: how it reads as a call, and what became of it."""

    call: str
    name: str
    fate: str = "buffered"
    why: str = ""


@dataclass
class Record:
    """One unit of work (a request or a command) and the intents it produced."""

    label: str
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    status: int | None = None
    entries: dict[str, Entry] = field(default_factory=dict)

    def count(self, fate: str) -> int:
        return sum(1 for e in self.entries.values() if e.fate == fate)

    @property
    def buffered(self) -> int:
        """How many intents were enqueued (whatever became of them)."""
        return len(self.entries)


def recent() -> list[Record]:
    """The last records, newest first, read from the database."""
    from shop.models import JournalRecord

    return [
        Record(
            row.label,
            row.at,
            row.status,
            {str(n): Entry(**entry) for n, entry in enumerate(row.entries)},
        )
        for row in JournalRecord.objects.all()[:KEEP]
    ]


def clear() -> None:
    """Forget every record."""
    from shop.models import JournalRecord

    JournalRecord.objects.all().delete()


def _why(captured: Captured) -> str:
    detail = captured.detail
    if captured.fate == "dropped":
        return detail if isinstance(detail, str) else f"by {detail!r}"
    if captured.fate == "failed":
        return f"{type(detail).__name__}: {detail}"
    if captured.fate == "rolled_back":
        return f"on {detail!r}" if detail else ""
    return ""


class _Enqueued(airlock.AllowAll):
    """A local policy that drops nothing and notes the id of each intent enqueued under it."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def on_enqueue(self, intent: airlock.Intent) -> None:
        self.ids.add(intent.id)

    def __repr__(self) -> str:
        return "journal"


def _fill(rec: Record, seen: Capture, ids: set[str]) -> None:
    for captured in seen:
        if captured.intent.id in ids:
            rec.entries[captured.intent.id] = Entry(
                call=str(captured.intent),
                name=captured.name,
                fate=FATES[captured.fate],
                why=_why(captured),
            )


def _save(rec: Record) -> None:
    from shop.models import JournalRecord

    entries = [vars(entry) for entry in rec.entries.values()]
    with transaction.atomic():
        JournalRecord.objects.create(label=rec.label, at=rec.at, status=rec.status, entries=entries)
        stale = JournalRecord.objects.values_list("id", flat=True)[KEEP:]
        JournalRecord.objects.filter(id__in=list(stale)).delete()


@contextmanager
def record(label: str, *, keep_empty: bool = True) -> Iterator[Record]:
    """Record every intent enqueued in this block and its fate; save the record at the end.

    With ``keep_empty=False`` a record that saw no intent is not saved (page views).
    """
    rec = Record(label)
    enqueued = _Enqueued()
    with capture(execute=True) as seen, airlock.policy(enqueued):
        try:
            yield rec
        finally:
            _fill(rec, seen, enqueued.ids)
    if keep_empty or rec.entries:
        _save(rec)


class JournalMiddleware:
    """Opens a record for each request (not for the journal page itself or static files).

    It sits outside ``AirlockMiddleware``: by the time the response comes back, the request's
    scope has decided what became of each intent.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(("/airlock/", "/static/", "/favicon")):
            return self.get_response(request)

        keep_empty = request.method not in ("GET", "HEAD")  # page views only if they enqueue
        label = f"{request.method} {request.path}"
        with record(label, keep_empty=keep_empty) as rec:
            try:
                response = self.get_response(request)
            except Exception:
                rec.status = 500
                raise
            rec.status = response.status_code
            return response
