"""What airlock did, per request: each intent and its fate, for the /airlock/ page and the demo.

It listens to airlock's fate events (``airlock._events``) and files them under the record
that is current in this context: one per request (``JournalMiddleware``) or one per block of
``record(label)`` (the demo wraps a management command in one). Kept in memory: the last 25.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from django.http import HttpRequest, HttpResponse

from airlock import _events

FATES = {
    _events.ENQUEUED: "buffered",
    _events.DROPPED: "dropped",
    _events.DISCARDED: "discarded",
    _events.ROLLED_BACK: "rolled back",
    _events.DISPATCHED: "dispatched",
    _events.FAILED: "failed",
}


@dataclass
class Entry:
    """One intent: how it reads as a call, and what became of it."""

    call: str
    name: str
    fate: str = "buffered"
    why: str = ""
    events: list[str] = field(default_factory=list)


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


_current: contextvars.ContextVar[Record | None] = contextvars.ContextVar(
    "shop_journal", default=None
)
_lock = threading.Lock()
_records: deque[Record] = deque(maxlen=25)


def recent() -> list[Record]:
    """The last records, newest first."""
    with _lock:
        return list(reversed(_records))


def clear() -> None:
    with _lock:
        _records.clear()


def _why(event: str, detail: Any) -> str:
    if event == _events.DROPPED:
        return f"by {detail!r}" if not isinstance(detail, str) else detail
    if event == _events.FAILED:
        return f"{type(detail).__name__}: {detail}"
    if event == _events.ROLLED_BACK:
        return f"on {detail!r}" if detail else ""
    return ""


def _listen(event: str, intent: Any, scope: Any, detail: Any) -> None:
    record = _current.get()
    if record is None or event not in FATES:
        return
    entry = record.entries.get(intent.id)
    if entry is None:
        entry = record.entries[intent.id] = Entry(call=str(intent), name=intent.name)
    entry.fate, entry.why = FATES[event], _why(event, detail)
    entry.events.append(event)


_installed: Callable[[], None] | None = None


def install() -> None:
    """Subscribe the listener once per process (the app's ``ready()`` calls this)."""
    global _installed
    if _installed is None:
        _installed = _events.subscribe(_listen)


@contextmanager
def record(label: str, *, keep_empty: bool = True) -> Iterator[Record]:
    """File every fate event in this block under a new record, kept in the journal.

    With ``keep_empty=False`` a record that saw no intent is not kept (page views).
    """
    rec = Record(label)
    token = _current.set(rec)
    try:
        yield rec
    finally:
        _current.reset(token)
        if keep_empty or rec.entries:
            with _lock:
                _records.append(rec)


class JournalMiddleware:
    """Opens a record for each request (not for the journal page itself or static files)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(("/airlock/", "/static/", "/favicon")):
            return self.get_response(request)
        keep_empty = request.method not in ("GET", "HEAD")  # page views only if they enqueue
        with record(f"{request.method} {request.path}", keep_empty=keep_empty) as rec:
            try:
                response = self.get_response(request)
            except Exception:
                rec.status = 500
                raise
            rec.status = response.status_code
            return response
