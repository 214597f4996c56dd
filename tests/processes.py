"""Waiting on conditions and running worker processes, for every suite that needs them.

Never sleep-and-hope: ``wait_until`` polls a condition until a deadline and fails with a clear
message; ``running`` starts a process in its own process group and always kills the group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy; return it. Fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition!r}")
        time.sleep(interval)


class Worker:
    """A running child process; ``output()`` reads what it printed so far (for diagnostics)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after ``timeout``."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    ready: Callable[[Worker], object] | None = None,
    ready_timeout: float = 60.0,
    cwd: Path = ROOT,
) -> Iterator[Worker]:
    """Run ``argv`` (``python`` means this interpreter) until the block ends; no orphans left.

    ``ready(worker)`` is polled until truthy before the block starts (e.g. "the log says the
    worker is consuming"); if the process dies first, its output is in the failure message.
    """
    if argv and argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    log = Path(tempfile.mkstemp(prefix="airlock-worker-", suffix=".log")[1])
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(proc, log)
    try:
        if ready is not None:

            def check() -> object:
                if not worker.alive():
                    raise AssertionError(
                        f"{argv[0]} exited with {proc.returncode} before it was ready:\n"
                        + worker.output()[-4000:]
                    )
                return ready(worker)

            try:
                wait_until(check, timeout=ready_timeout, interval=0.1, what=f"{argv} to be ready")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n--- output ---\n{worker.output()[-4000:]}") from None
        yield worker
    finally:
        worker.stop()
        with contextlib.suppress(OSError):
            log.unlink()
