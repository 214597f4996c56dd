"""Flask extension: each request runs in an airlock scope, settled at teardown.

``Airlock(app)`` or ``airlock_ext = Airlock(); airlock_ext.init_app(app)``. The scope is
``airlock.scope()`` (the configured class) and is ``flask.g.airlock_scope`` during the request.
"""

from __future__ import annotations

from airlock.integrations._extras import require

with require("flask", __name__):
    from flask import Flask, Response, g

import airlock
from airlock._scope import Scope

__all__ = ["Airlock"]


class Airlock:
    """Gives each request a scope: flushed when the response status is < 400, else discarded.

    ``after_request`` notes the status; ``teardown_request`` exits the scope and decides. An
    exception that reaches teardown (unhandled by the app) discards, as does a request that
    produced no response. A streamed body (a generator) runs after teardown, outside the scope.
    Override ``should_flush(status)`` or ``make_scope()`` in a subclass.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Register the request hooks on ``app``."""
        app.before_request(self._open)
        app.after_request(self._note_status)
        app.teardown_request(self._settle)
        app.extensions["airlock"] = self

    def make_scope(self) -> Scope:
        """The scope for one request (default: ``airlock.scope()``)."""
        return airlock.scope()

    def should_flush(self, status: int) -> bool:
        """True to flush the request's scope for a response with this status."""
        return status < 400

    def _open(self) -> None:
        g.airlock_scope = self.make_scope().enter()
        g.airlock_status = None

    def _note_status(self, response: Response) -> Response:
        g.airlock_status = response.status_code
        return response

    def _settle(self, error: BaseException | None) -> None:
        scope: Scope | None = g.pop("airlock_scope", None)
        if scope is None or not scope.is_active:  # before_request never ran (or another hook)
            return
        status: int | None = g.pop("airlock_status", None)
        scope.exit()
        if error is None and status is not None and self.should_flush(status):
            scope.flush()
        else:
            scope.discard()
