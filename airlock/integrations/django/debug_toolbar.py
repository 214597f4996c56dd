"""A django-debug-toolbar panel listing the request's intents and what became of each.

Add ``"airlock.integrations.django.debug_toolbar.AirlockPanel"`` to ``DEBUG_TOOLBAR_PANELS``
(needs the ``debug-toolbar`` extra). While the panel records a request it listens to airlock's
fate events from the request's thread only, and notes each enqueue's call site (the first frame
outside airlock); nothing is recorded, and nothing costs, when the toolbar is off.
"""

from __future__ import annotations

import os
import reprlib
import sys
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airlock import _events
from airlock.integrations._extras import require

with require("debug-toolbar", __name__):
    from debug_toolbar.panels import Panel

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from airlock._intent import Intent
    from airlock._scope import Scope

__all__ = ["AirlockPanel"]

FATES = {
    _events.DROPPED: "dropped",
    _events.DISCARDED: "discarded",
    _events.ROLLED_BACK: "rolled back",
    _events.DISPATCHED: "dispatched",
    _events.FAILED: "failed",
}

_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxtuple = _short.maxdict = 6
_short.maxlevel = 3


def call_site(base: str = "") -> str:
    """``file:line`` of the innermost frame that is not airlock's own code; a file name under
    the directory ``base`` (ending in a separator) is shown relative to it."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module != "airlock" and not module.startswith("airlock."):
            return f"{frame.f_code.co_filename.removeprefix(base)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def arguments(intent: Intent) -> str:
    """The intent's arguments as a call would show them, each truncated by ``reprlib``."""
    parts = [_short.repr(arg) for arg in intent.args]
    parts += [f"{name}={_short.repr(value)}" for name, value in intent.kwargs.items()]
    return ", ".join(parts)


@dataclass
class Row:
    """One intent as the panel shows it."""

    id: str
    task: str
    arguments: str
    options: str
    origin: str
    scope: str
    fate: str = "buffered"
    why: str = ""
    events: list[str] = field(default_factory=list)


class AirlockPanel(Panel):  # type: ignore[misc]
    """The request's intents: task, arguments, options, origin, scope and fate."""

    title = "Airlock"
    nav_title = "Airlock"
    template = "airlock/debug_toolbar.html"
    is_async = False  # it follows the request's thread; the toolbar disables it under ASGI

    @property
    def nav_subtitle(self) -> str:
        rows = self.get_stats().get("intents", [])
        dispatched = sum(1 for row in rows if row["fate"] == "dispatched")
        return f"{len(rows)} intents, {dispatched} dispatched"

    def process_request(self, request: HttpRequest) -> HttpResponse:
        rows: dict[str, Row] = {}
        thread = threading.get_ident()
        base = os.path.join(os.getcwd(), "")

        def listen(event: str, intent: Intent, scope: Scope | None, detail: Any) -> None:
            if threading.get_ident() != thread:
                return
            row = rows.get(intent.id)
            if row is None:
                if event != _events.ENQUEUED:
                    return  # enqueued before this request (or on another thread)
                row = rows[intent.id] = Row(
                    id=intent.id,
                    task=intent.name,
                    arguments=arguments(intent),
                    options=_short.repr(dict(intent.dispatch_options))
                    if intent.dispatch_options
                    else "",
                    origin=" | ".join(filter(None, [call_site(base), intent.origin])),
                    scope=_scope_label(scope),
                )
            row.events.append(event)
            if event in FATES:
                row.fate = FATES[event]
                row.why = "" if detail is None or event == _events.DISPATCHED else _why(detail)

        unsubscribe = _events.subscribe(listen)
        try:
            response: HttpResponse = super().process_request(request)
        finally:
            unsubscribe()
        self._rows = list(rows.values())
        return response

    def generate_stats(self, request: HttpRequest, response: HttpResponse) -> None:
        rows = getattr(self, "_rows", [])
        self.record_stats({"intents": [row.__dict__ for row in rows]})


def _why(detail: Any) -> str:
    """Why a fate: the dropping policy, the rolled-back alias or the exception, short."""
    if isinstance(detail, BaseException):
        text = str(detail)
        return f"{type(detail).__name__}: {text if len(text) <= 120 else text[:117] + '...'}"
    return detail if isinstance(detail, str) else _short.repr(detail)


def _scope_label(scope: Scope | None) -> str:
    """The buffering scope: its class and policy (its state changes, so not its repr)."""
    if scope is None:
        return ""
    return f"{type(scope).__name__}(policy={_short.repr(scope.policy)})"
