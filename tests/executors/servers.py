"""Real HTTP servers on loopback (ephemeral ports) for the webhook and Lambda tests."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[str, bytes, Any], tuple[int, dict[str, str], bytes]]


class Received:
    """What a server saw: raw requests, in arrival order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        self.lock = threading.Lock()


@contextlib.contextmanager
def serve(handle: Handler) -> Iterator[tuple[str, Received]]:
    """Serve ``handle(path, body, headers) -> (status, headers, body)`` on 127.0.0.1:<free port>."""
    received = Received()

    class RequestHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with received.lock:
                received.requests.append((self.path, body, dict(self.headers)))
            status, headers, reply = handle(self.path, body, self.headers)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (the timeout test); nothing to answer

        do_GET = do_PUT = do_DELETE = do_PATCH = do_POST  # record whatever arrives

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def dripping(head: bytes, every: float = 0.2) -> Iterator[str]:
    """A server that reads a request, writes ``head`` at once, then drips ``X`` one byte every
    ``every`` seconds (at most 60) until the client goes away or the server is closed."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(head)
                for _ in range(60):
                    if stop.wait(every):
                        return
                    conn.sendall(b"X")
            except OSError:
                return  # the client gave up

    def accept() -> None:
        drips: list[threading.Thread] = []
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(None)
            drips.append(threading.Thread(target=drip, args=(conn,)))
            drips[-1].start()
        for thread in drips:
            thread.join(10)

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()
