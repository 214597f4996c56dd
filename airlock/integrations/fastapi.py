"""FastAPI dependency for the request's airlock scope (``AirlockMiddleware`` makes it).

``def view(scope: RequestScope)`` or ``scope: Scope = Depends(request_scope)``: the scope the
middleware opened for this request. Enqueueing needs no dependency (``airlock.enqueue`` finds
the current scope); take the scope to read or discard what it holds.
"""

from __future__ import annotations

from typing import Annotated

from airlock.integrations._extras import require

with require("fastapi", __name__):
    from fastapi import Depends
    from starlette.requests import HTTPConnection

from airlock._scope import Scope
from airlock.integrations.asgi import SCOPE_KEY, AirlockMiddleware

__all__ = ["AirlockMiddleware", "RequestScope", "request_scope"]


def request_scope(request: HTTPConnection) -> Scope:
    """The request's scope; ``RuntimeError`` when ``AirlockMiddleware`` is not installed."""
    try:
        scope: Scope = request.scope[SCOPE_KEY]
    except KeyError:
        raise RuntimeError(
            "no airlock scope for this request: add "
            "app.add_middleware(airlock.integrations.asgi.AirlockMiddleware)"
        ) from None
    return scope


#: ``Annotated`` alias: ``def view(scope: RequestScope)``.
RequestScope = Annotated[Scope, Depends(request_scope)]
