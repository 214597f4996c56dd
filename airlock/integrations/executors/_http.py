"""One HTTP POST under a deadline for the whole exchange, never following a redirect.

``post`` returns every answer (2xx, 3xx, 4xx, 5xx) as it came: a redirect is the caller's
to judge, never followed. ``timeout`` bounds connect + send + read together: each socket
operation may use only the time left, so a server dripping a byte at a time cannot stretch
it. Name resolution is the system resolver's and is not bounded. Proxies from the
environment (``HTTPS_PROXY``...) are honoured, as with ``urllib``. Credentials in the URL's
user-info are sent as Basic auth, never as part of the URL; ``redact`` hides them for printing.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["opener", "post", "redact"]

EXCERPT = 500  # bytes of an answer's body kept for errors


def redact(url: str) -> str:
    """``url`` with its user-info, every query value and any fragment shown as ``***``.

    A secret in the path itself cannot be told apart from the path and is shown.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=***" if sep else "***"
        for name, sep, _ in (piece.partition("=") for piece in parts.query.split("&") if piece)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, "***" if parts.fragment else ""))


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _Reader(io.RawIOBase):
    """The socket's raw reader, each read given only the time left."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        self._sock.settimeout(_left(self._deadline))
        return self._raw.readinto(buffer)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._raw.close()
        super().close()


class _DeadlineSocket:
    """A connected socket whose sends and reads share one deadline (what http.client uses)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def sendall(self, data: Any) -> None:
        self.sock.settimeout(_left(self.deadline))
        self.sock.sendall(data)  # one timeout for the whole sendall (Python >= 3.5)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_Reader(self.sock, self.deadline))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class _HTTP(http.client.HTTPConnection):
    def __init__(self, host: str, *, deadline: float, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.deadline = deadline

    def connect(self) -> None:
        self.timeout = _left(self.deadline)
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self.deadline)


class _HTTPS(_HTTP, http.client.HTTPSConnection):
    """``_HTTP``'s deadline over TLS: the ``super().connect()`` there is HTTPSConnection's (TCP,
    then the TLS handshake, given the time left at its start)."""


class _Request(urllib.request.Request):
    deadline = 0.0


class _HTTPHandler(urllib.request.HTTPHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(functools.partial(_HTTP, deadline=req.deadline), req, **kwargs)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> http.client.HTTPResponse:
        return super().do_open(functools.partial(_HTTPS, deadline=req.deadline), req, **kwargs)


def opener() -> urllib.request.OpenerDirector:
    """An opener for ``post``: http(s) only, proxies from the environment as of now, no
    redirect handler (a 3xx reaches the default error handler and comes back as an answer)."""
    director = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.ProxyHandler(),
        _HTTPHandler(),
        _HTTPSHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        director.add_handler(handler)
    return director


def _credentials(url: str, headers: dict[str, str]) -> str:
    """``url`` without user-info; the user-info becomes an ``Authorization`` header unless one
    is set."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    if not any(name.lower() == "authorization" for name in headers):
        token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return urlunsplit(parts._replace(netloc=host))


def post(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
) -> tuple[int, str | None, str]:
    """POST ``body`` and return ``(status, Location header or None, body excerpt)``.

    Raises ``TimeoutError`` once ``timeout`` seconds have passed since the call, ``OSError``,
    ``urllib.error.URLError`` or ``http.client.HTTPException`` when the exchange fails.
    """
    deadline = time.monotonic() + timeout
    sent = dict(headers)
    request = _Request(_credentials(url, sent), data=body, headers=sent, method="POST")
    request.deadline = deadline
    try:
        response: Any = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as answer:  # how urllib hands back a non-2xx answer
        response = answer
    with response:
        status: int = response.status
        location: str | None = response.headers.get("Location")
        text: str = response.read(EXCERPT).decode(errors="replace")
    return status, location, text
