"""``webhook_executor``: POST each intent as signed JSON; ``verify_webhook`` for the receiver.

The body is JSON ``{"id", "key", "name", "args", "kwargs", "timestamp", "delivery"}``
(``delivery``: random per send, so a redelivery is a new signed request). Headers:
``X-Airlock-Timestamp`` (Unix seconds), ``X-Airlock-Id`` and ``X-Airlock-Signature:
sha256=<hex>``, the HMAC-SHA256 of ``b"<timestamp>." + body`` under the shared secret.
Standard library only (``urllib``); the ``webhook`` extra installs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.error
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from airlock._intent import Intent
from airlock.exceptions import WebhookError, WebhookVerificationError
from airlock.executors._base import check_options
from airlock.integrations import _propagation
from airlock.integrations.executors._http import opener, post, redact
from airlock.integrations.executors._payload import check_json, json_body, payload
from airlock.typing import SupportsPrepare

__all__ = [
    "ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ReplayGuard",
    "WebhookError",
    "WebhookVerificationError",
    "sign",
    "verify_webhook",
    "webhook_executor",
]

SIGNATURE_HEADER = "X-Airlock-Signature"
TIMESTAMP_HEADER = "X-Airlock-Timestamp"
ID_HEADER = "X-Airlock-Id"


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The signature header value: ``sha256=`` + HMAC-SHA256 of ``b"<timestamp>." + body``."""
    digest = hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class _SecretURL(str):
    """A URL whose ``repr`` hides its credentials (the ``url`` option of a prepared intent)."""

    def __repr__(self) -> str:
        return repr(redact(self))


def _shown(url: object) -> str:
    return repr(redact(url)) if isinstance(url, str) else repr(url)


def _check_url(url: object, where: str) -> str:
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ValueError(f"{where}: the webhook url must be an http(s) URL, got {_shown(url)}")
    return url


class _Webhook(SupportsPrepare):
    known_options = frozenset({"url"})

    def __init__(
        self,
        url: str,
        secret: bytes,
        timeout: float,
        headers: Mapping[str, str],
        clock: Callable[[], float],
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.headers = dict(headers)
        self.clock = clock
        self.opener = opener()

    def prepare(self, intent: Intent) -> Intent:
        """Check at enqueue time that the arguments are JSON-serializable and ``url`` is an
        http(s) URL (kept as a ``_SecretURL``, so the intent's repr hides its credentials); the
        only dispatch option is ``url`` (any other: ``UnknownOptionError``)."""
        check_options(str(intent), "webhook dispatch", intent.dispatch_options, self.known_options)
        check_json(intent, "the webhook")
        url = intent.dispatch_options.get("url")
        if url is None:
            return intent
        _check_url(url, str(intent))
        return intent.replace(dispatch_options={**intent.dispatch_options, "url": _SecretURL(url)})

    def __call__(self, intent: Intent) -> int:
        # Checked again here: the outbox relay sends without the enqueue-time prepare.
        url = _check_url(intent.dispatch_options.get("url", self.url), str(intent))
        shown = redact(url)
        timestamp = int(self.clock())
        body = json_body(payload(intent, timestamp=timestamp, delivery=uuid.uuid4().hex))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "airlock-webhook",
            **self.headers,
            TIMESTAMP_HEADER: str(timestamp),
            ID_HEADER: intent.id,
            SIGNATURE_HEADER: sign(self.secret, timestamp, body),
        }
        _propagation.inject(intent, headers)  # traceparent, when tracing is instrumented
        try:
            status, location, text = post(self.opener, url, body, headers, self.timeout)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                message = f"webhook {shown} timed out after {self.timeout}s for {intent}"
            else:
                message = f"webhook {shown} could not be reached for {intent}: {reason}"
            raise WebhookError(message, intent, None, "") from exc
        if 300 <= status < 400:
            target = "no Location" if location is None else _shown(location)
            raise WebhookError(
                f"webhook {shown} answered {status} for {intent}, redirecting to "
                f"{target}: redirects are never followed",
                intent,
                status,
                text,
            )
        if not 200 <= status < 300:
            excerpt = text[:200]
            raise WebhookError(
                f"webhook {shown} answered {status} for {intent}: {excerpt!r}", intent, status, text
            )
        return status

    def __repr__(self) -> str:
        return f"<webhook_executor {redact(self.url)}>"


def webhook_executor(
    url: str,
    *,
    secret: str | bytes,
    timeout: float = 10.0,
    headers: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> _Webhook:
    """POST each intent to ``url`` as signed JSON; dispatch option ``url`` overrides per intent.

    Raises ``WebhookError`` (a ``DispatchError``; ``.status``, ``.body``) for a non-2xx answer
    (the message carries the status and a body excerpt), a redirect (never followed; the
    message names its ``Location``) or an unreachable endpoint. ``timeout`` bounds the whole
    send (connect, send, read). Credentials in ``url`` (user-info, sent as Basic auth; query
    values) never appear in a ``repr`` or an error. ``prepare`` rejects arguments JSON cannot
    encode and a non-http(s) ``url`` at enqueue; the url is checked again at send time.
    Wrap in ``with_retry`` for transient failures: the receiver de-duplicates by ``id``.
    """
    if not secret:
        raise ValueError("webhook_executor needs a non-empty secret= to sign requests with")
    _check_url(url, "webhook_executor")
    return _Webhook(url, _key(secret), timeout, dict(headers or {}), clock)


class ReplayGuard:
    """Remembers the signed requests seen within ``tolerance`` seconds, so each is accepted once.

    A request is its signature (which covers the timestamp and the body): an identical
    replay is refused, a redelivery of the same intent (a new signed request) is not.
    De-duplicating by intent id is the receiver's handler's business. Thread-safe and
    in-process; for several server processes give ``verify_webhook`` any object with the
    same ``remember(signature, timestamp) -> bool`` method (e.g. backed by a cache).
    """

    def __init__(self, tolerance: float = 300.0) -> None:
        self.tolerance = tolerance
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def remember(self, signature: str, timestamp: float) -> bool:
        """True the first time a signature is seen; False for a replay."""
        with self._lock:
            horizon = timestamp - 2 * self.tolerance
            if len(self._seen) > 1000:
                self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
            if signature in self._seen:
                return False
            self._seen[signature] = timestamp
            return True


def _header(headers: Mapping[str, str] | Any, name: str) -> str | None:
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; HTTP headers are not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def verify_webhook(
    body: bytes,
    headers: Mapping[str, str] | Any,
    *,
    secret: str | bytes,
    tolerance: float = 300.0,
    seen: ReplayGuard | Any | None = None,
    now: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Check a received webhook and return its payload; ``WebhookVerificationError`` otherwise.

    Verifies the HMAC signature over the raw ``body`` (constant-time compare), that the
    timestamp is within ``tolerance`` seconds of ``now()`` and matches the body, and, with
    ``seen`` (a ``ReplayGuard``), that this signed request was not accepted before. A
    redelivery of the same intent is a new signed request and passes: apply the effect once
    per ``id`` in the handler, recording the id only once the handler succeeded.
    ``headers`` is any mapping (``request.headers`` in Django, ``self.headers`` in
    ``http.server``).
    """
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise WebhookVerificationError(
            f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header: not an airlock webhook"
        )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"bad {TIMESTAMP_HEADER} header {stamp!r}") from None
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise WebhookVerificationError("signature mismatch: wrong secret or a tampered body")
    age = now() - timestamp
    if abs(age) > tolerance:
        raise WebhookVerificationError(
            f"timestamp is {age:.0f}s off (tolerance {tolerance:.0f}s): a replay or a bad clock"
        )
    data: dict[str, Any] = json.loads(body)
    if data.get("timestamp") != timestamp:
        raise WebhookVerificationError("the body's timestamp does not match the signed header")
    if seen is not None and not seen.remember(signature, timestamp):
        raise WebhookVerificationError(
            f"this request for {data.get('id')!r} was already received (replay)"
        )
    return data
