"""AirlockMiddleware: one scope per request, flushed or discarded by the response status.

The middleware needs the airlock app (it makes ``DjangoScope`` the scope). Without it, the check
``airlock.E007`` fails and the middleware refuses to be built: the check is registered here, at
import, because an app that is not installed registers nothing; building the middleware
raises so that a server whose setup never imported this module still cannot start without it.
Silencing ``airlock.E007`` (you configure ``DjangoScope`` yourself) silences both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from django.utils.module_loading import import_string

import airlock
from airlock._scope import Scope
from airlock.integrations.django.apps import AirlockConfig

__all__ = ["AirlockMiddleware", "check_app_installed"]

GetResponse = Callable[[HttpRequest], Any]

APP = "airlock.integrations.django"
_PATHS = frozenset({f"{APP}.AirlockMiddleware", f"{APP}.middleware.AirlockMiddleware"})
_NO_APP = (
    f"AirlockMiddleware is in MIDDLEWARE, but {APP!r} is not in INSTALLED_APPS: requests would "
    "run in a plain Scope that ignores transactions (a view whose atomic() rolls back would "
    "still send its tasks), and settings.AIRLOCK would be ignored"
)
_ADD_APP = f"Add {APP!r} to INSTALLED_APPS."


class AirlockMiddleware:
    """Runs each request in a scope (``request.airlock_scope``), sync or async.

    The response decides: ``should_flush(request, response)`` (default: status < 400) flushes,
    otherwise the scope is discarded; an exception discards and propagates. A streaming
    response keeps its scope open (and current) until the response is closed, so code that
    enqueues while the body streams works. Override ``make_scope(request)`` for another scope.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        if not AirlockConfig.loaded and "airlock.E007" not in settings.SILENCED_SYSTEM_CHECKS:
            raise ImproperlyConfigured(f"(airlock.E007) {_NO_APP}. {_ADD_APP}")
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        self._default_scope = type(self).make_scope is AirlockMiddleware.make_scope
        self._default_flush = type(self).should_flush is AirlockMiddleware.should_flush
        if self.async_mode:
            markcoroutinefunction(self)

    def make_scope(self, request: HttpRequest) -> Scope:
        """The scope for one request (default: ``airlock.scope()``, i.e. the SCOPE setting)."""
        return airlock.scope()

    def should_flush(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """True to flush the request's scope, False to discard it."""
        return response.status_code < 400

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        # _enter() and _settle(), inlined: this runs for every request.
        scope = (airlock.scope() if self._default_scope else self.make_scope(request)).enter()
        request.airlock_scope = scope  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        except BaseException:
            _abandon(scope)
            raise
        if response.streaming:
            return self._finish_on_close(request, scope, response)
        if (
            scope._buffer is None  # nothing was enqueued: the usual request
            and self._default_flush
            and response.status_code < 400
            and type(scope).__exit__ is _plain_exit
            and type(scope).should_flush is _plain_should_flush
        ):
            scope.__exit__(None, None, None)  # exit() and flush() of an empty scope, in one call
            return response
        scope.exit()
        if self.should_flush(request, response):
            scope.flush()
        else:
            scope.discard()
        return response

    async def __acall__(self, request: HttpRequest) -> Any:
        scope = self._enter(request)
        try:
            response = await self.get_response(request)
        except BaseException:
            _abandon(scope)
            raise
        if response.streaming:
            return self._finish_on_close(request, scope, response)
        scope.exit()
        if scope.intents:
            # Executors are blocking code: keep them off the event loop.
            await sync_to_async(self._settle, thread_sensitive=True)(request, scope, response)
        else:
            self._settle(request, scope, response)
        return response

    def _enter(self, request: HttpRequest) -> Scope:
        scope = self.make_scope(request).enter()
        request.airlock_scope = scope  # type: ignore[attr-defined]
        return scope

    def _settle(self, request: HttpRequest, scope: Scope, response: HttpResponseBase) -> None:
        if self.should_flush(request, response):
            scope.flush()
        else:
            scope.discard()

    def _finish_on_close(
        self, request: HttpRequest, scope: Scope, response: HttpResponseBase
    ) -> HttpResponseBase:
        close: Callable[[], Awaitable[None] | None] = response.close

        def close_then_settle() -> None:
            try:
                close()
            finally:
                if scope.is_active:
                    scope.exit()
                    self._settle(request, scope, response)

        response.close = close_then_settle  # type: ignore[method-assign]
        return response


# Scope's own __exit__ and should_flush: on a normal exit an empty scope is exited and flushed in
# place (a subclass overriding exit gets another __exit__, see Scope.__init_subclass__).
_plain_exit, _plain_should_flush = Scope.__exit__, Scope.should_flush


def _abandon(scope: Scope) -> None:
    """The view raised: the request's intents are discarded."""
    scope.exit()
    scope.discard()


def _is_airlock_middleware(path: str) -> bool:
    if path in _PATHS:
        return True
    try:
        found = import_string(path)
    except Exception:  # Django reports a broken MIDDLEWARE entry itself, at start-up
        return False
    return isinstance(found, type) and issubclass(found, AirlockMiddleware)


def check_app_installed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``airlock.E007``: ``AirlockMiddleware`` (or a subclass) in ``MIDDLEWARE`` without the app."""
    if AirlockConfig.loaded:
        return []
    if not any(_is_airlock_middleware(path) for path in settings.MIDDLEWARE or ()):
        return []
    return [checks.Error(_NO_APP, hint=_ADD_APP, obj="settings.MIDDLEWARE", id="airlock.E007")]


checks.register(check_app_installed, "airlock")
