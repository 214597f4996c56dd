"""End to end: the middleware in a FastAPI app served by a real uvicorn process, over HTTP.

The app writes each intent's fate to a file; the negative waits for it (the discard of a 4xx
request happens after its response was sent), so "not run" is asserted once it is decided.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import ROOT
from tests.services import require_module

require_module("fastapi", "fastapi")
require_module("uvicorn", "dev")
require_module("httpx", "dev")

import httpx  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition, timeout: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    sent = tmp_path / "sent.txt"
    fates = tmp_path / "fates.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AIRLOCK_WEB_SENT": str(sent),
        "AIRLOCK_WEB_FATES": str(fates),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, "-m", "uvicorn", "tests.web.uvicorn_app:app", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
        try:
            httpx.get(url + "/docs", timeout=1)
        except httpx.TransportError:
            return False
        return True

    try:
        wait_until(up, what="uvicorn to listen")
        yield url, sent, fates
    finally:
        process.terminate()
        process.wait(timeout=20)
        process.stderr.close()  # type: ignore[union-attr]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_uvicorn_dispatches_committed_requests_only(server):
    url, sent, fates = server
    assert httpx.post(f"{url}/orders/bad-1").status_code == 422
    assert httpx.post(f"{url}/orders/good-1").status_code == 200
    # Both fates are decided (the 422's discard runs after its response was sent)...
    wait_until(lambda: len(lines(fates)) == 2, what="the fates of bad-1 and good-1")
    assert sorted(lines(fates)) == ["bad-1 discarded", "good-1 dispatched"]
    # ...and a discarded intent can never run later: only good-1 reached the file.
    assert lines(sent) == ["good-1"]
