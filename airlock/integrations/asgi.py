"""AirlockMiddleware for ASGI apps (Starlette, FastAPI): one scope per HTTP request.

Pure ASGI (no third-party import): wrap any ASGI app. Only ``http`` requests get a scope;
``lifespan`` and ``websocket`` connections pass through untouched (a websocket lives too long
for one unit of work: open ``airlock.scope()`` per message where you need one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import airlock
from airlock._scope import Scope

__all__ = ["SCOPE_KEY", "AirlockMiddleware"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

#: Where the request's airlock scope is kept in the ASGI connection scope.
SCOPE_KEY = "airlock.scope"


class AirlockMiddleware:
    """Runs each HTTP request in a scope, flushed or discarded once the app has returned.

    The status of ``http.response.start`` decides: ``should_flush(status)`` (default:
    status < 400) flushes; otherwise, an exception, or no response started, discards (the
    exception propagates). The scope stays open and current until the app returns, so a
    streaming body and Starlette's background tasks enqueue into it; its intents are
    dispatched after the response was sent. Flushing runs in a worker thread (executors are
    blocking code) when there is anything to dispatch. The scope is ``airlock.scope()``, i.e.
    the configured class (``SQLAlchemyScope`` when configured so); override ``make_scope``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def make_scope(self, connection: MutableMapping[str, Any]) -> Scope:
        """The scope for one request (default: ``airlock.scope()``)."""
        return airlock.scope()

    def should_flush(self, status: int) -> bool:
        """True to flush the request's scope for a response with this status."""
        return status < 400

    async def __call__(
        self, connection: MutableMapping[str, Any], receive: Receive, send: Send
    ) -> None:
        if connection["type"] != "http":
            await self.app(connection, receive, send)
            return
        status: int | None = None

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scope = self.make_scope(connection).enter()
        connection[SCOPE_KEY] = scope
        try:
            await self.app(connection, receive, send_noting_status)
        except BaseException:
            scope.exit()
            scope.discard()
            raise
        scope.exit()
        if status is None or not self.should_flush(status):
            scope.discard()
        elif scope.intents:
            await asyncio.to_thread(scope.flush)
        else:
            scope.flush()
