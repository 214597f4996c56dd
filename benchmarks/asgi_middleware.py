"""ASGI middleware overhead in instructions: a trivial Starlette endpoint with and without it.

Counts instructions with ``valgrind --tool=callgrind`` (``PYTHONHASHSEED=0``), as
``middleware_callgrind.py`` does for Django, so the figure repeats on a shared, noisy machine.
The app is a plain Starlette app (no FastAPI, no server): each request is one call of the ASGI
app in-process, ``await app(scope, receive, send)``, on one event loop. Five sides:

- ``bare``: the endpoint answers ``ok``;
- ``middleware``: the same app with ``AirlockMiddleware`` (``Middleware(AirlockMiddleware)``);
- ``bare_call``: no middleware, the endpoint calls the task function itself (the floor for...)
- ``middleware_enqueue``: ...the middleware app whose endpoint ``airlock.enqueue`` calls
  that function once; ``sync_executor`` runs it after the response, in a worker thread
  (``asyncio.to_thread``), which is what the middleware does whenever there is something to
  dispatch;
- ``middleware_enqueue_on_loop``: the same with ``asyncio.to_thread`` replaced by a direct
  call, for comparison only (the executor then blocks the event loop): what the hand-off to a
  worker thread costs.

Each side runs twice in a child process, warm-up requests only, then the warm-up plus
``REQUESTS`` more; the difference divided by ``REQUESTS`` is one request without start-up.
Prints one JSON line, then a short summary; without valgrind on PATH the line says
``"skipped"``. ``AIRLOCK_BENCH_QUICK=1``: 100 requests instead of 1,000.
Run: ``.venv/bin/python benchmarks/asgi_middleware.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from _bench import callgrind_instructions  # this folder is on sys.path when run as a script

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
QUICK = os.environ.get("AIRLOCK_BENCH_QUICK") == "1"
REQUESTS = 100 if QUICK else 1_000
WARMUP = 20
SIDES = ["bare", "middleware", "bare_call", "middleware_enqueue", "middleware_enqueue_on_loop"]

REQUEST = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.3"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/trivial",
    "raw_path": b"/trivial",
    "root_path": "",
    "query_string": b"",
    "headers": [(b"host", b"bench")],
    "client": ("127.0.0.1", 50000),
    "server": ("127.0.0.1", 8000),
}


def task(n: int) -> None:
    """The task: does nothing (the figure is what it costs to get it called)."""


def build(side: str):  # -> an ASGI app
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import airlock
    from airlock.integrations.asgi import AirlockMiddleware

    airlock.configure(executor="airlock.integrations.executors.sync.sync_executor")
    ok = PlainTextResponse  # one response class for every side

    async def trivial(request):
        if side == "bare_call":
            task(1)
        elif side.startswith("middleware_enqueue"):
            airlock.enqueue(task, 1)
        return ok("ok")

    middleware = [Middleware(AirlockMiddleware)] if side.startswith("middleware") else []
    return Starlette(routes=[Route("/trivial", trivial)], middleware=middleware)


def child(requests: int, side: str) -> None:
    """Build the side's app and send it WARMUP + ``requests`` GETs, in-process."""
    import asyncio

    if side == "middleware_enqueue_on_loop":

        async def direct(func, /, *args, **kwargs):
            return func(*args, **kwargs)

        asyncio.to_thread = direct  # the middleware looks it up at each flush
    app = build(side)
    statuses: list[int] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def run() -> None:
        for _ in range(WARMUP + requests):
            await app(dict(REQUEST), receive, send)

    asyncio.run(run())
    if statuses != [200] * (WARMUP + requests):
        raise SystemExit(f"the trivial endpoint did not answer 200: {set(statuses)}")


def instructions(requests: int, side: str, out: Path) -> int:
    """Instructions callgrind counts for one child run."""
    return callgrind_instructions([sys.executable, __file__, "--child", str(requests), side], out)


def main() -> None:
    if shutil.which("valgrind") is None:
        print(json.dumps({"benchmark": "asgi_middleware", "skipped": "valgrind not found"}))
        return
    per_request = {}
    with tempfile.TemporaryDirectory(prefix="airlock-callgrind-") as tmp:
        for side in SIDES:
            start = instructions(0, side, Path(tmp) / "start.out")
            total = instructions(REQUESTS, side, Path(tmp) / "total.out")
            per_request[side] = (total - start) / REQUESTS
    bare, middleware = per_request["bare"], per_request["middleware"]
    call, enqueue = per_request["bare_call"], per_request["middleware_enqueue"]
    result = {
        "benchmark": "asgi_middleware",
        "python": sys.version.split()[0],
        "requests": REQUESTS,
        "instructions_per_request": {side: round(per_request[side]) for side in SIDES},
        "middleware_added": round(middleware - bare),
        "middleware_overhead_pct": round((middleware - bare) / bare * 100, 2),
        "enqueue_added": round(enqueue - call),
        "enqueue_overhead_pct": round((enqueue - call) / call * 100, 2),
        "thread_handoff": round(enqueue - per_request["middleware_enqueue_on_loop"]),
    }
    print(json.dumps(result))
    print(
        f"trivial Starlette endpoint: {bare:,.0f} instructions per request; with "
        f"AirlockMiddleware {middleware:,.0f} (+{middleware - bare:,.0f}, "
        f"{result['middleware_overhead_pct']:+.2f} %)\n"
        f"calling a task inline: {call:,.0f}; enqueueing it through the middleware "
        f"(dispatched after the response, in a worker thread) {enqueue:,.0f} "
        f"(+{enqueue - call:,.0f}, {result['enqueue_overhead_pct']:+.2f} %), of which the "
        f"hand-off to a worker thread {result['thread_handoff']:,.0f}"
    )


if __name__ == "__main__":
    if "--child" in sys.argv:
        at = sys.argv.index("--child")
        child(int(sys.argv[at + 1]), sys.argv[at + 2])
    else:
        main()
