"""The web suite's plumbing: its database, its worker and server processes, what they saw.

``serving(framework, database)`` runs the FastAPI app under uvicorn or the Flask app under
gunicorn (gthread) until the block ends, ready when ``/health`` answers. ``fates`` waits for what
the server decided for each intent (every fate it gives is recorded in Redis DB 2);
``ran_so_far`` publishes a sentinel and returns what the worker ran up to it. ``relaying`` runs
``python -m airlock.relay`` on the suite's outbox; ``outbox_rows`` reads that table. Importing this
module skips the importing test module when a library is missing (fails under
``AIRLOCK_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from tests.processes import Worker, running, wait_until
from tests.services import PG_USER, SERVICES, redis_url, require_module

for _module, _extra in [
    ("celery", "celery"),
    ("sqlalchemy", "sqlalchemy"),
    ("fastapi", "fastapi"),
    ("flask", "flask"),
    ("uvicorn", "dev"),
    ("gunicorn", "dev"),
    ("httpx", "dev"),
    ("asyncpg", "dev"),
    ("psycopg", "dev"),
    ("redis", "dev"),
]:
    require_module(_module, _extra)

import httpx  # noqa: E402
from sqlalchemy import Engine, select  # noqa: E402

from integrations.web.shop import orders, outbox  # noqa: E402
from integrations.web.tasks import FATES, QUEUE, RAN, send_sentinel  # noqa: E402

DB_NAME = f"airlock_web_e2e{os.environ.get('AIRLOCK_DB_SUFFIX', '')}"
WORKER = [
    "python", "-m", "celery", "-A", "integrations.web.tasks", "worker", "--pool=solo",
    "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=info",
    "-Q", QUEUE, "-n", "web@%h",
]  # fmt: skip


def database_url(name: str) -> str:
    host, port = SERVICES["postgres"]
    return f"postgresql+psycopg://{PG_USER}@{host}:{port}/{name}"


def environment(database: Engine, broker: str | None = None) -> dict[str, str]:
    return {
        "AIRLOCK_WEB_BROKER": broker or redis_url(1),
        "AIRLOCK_WEB_DB": database.url.render_as_string(hide_password=False),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_argv(framework: str, port: int) -> list[str]:
    if framework == "fastapi":
        return [
            "python", "-m", "uvicorn", "integrations.web.fastapi_app:app",
            "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        ]  # fmt: skip
    return [
        "python", "-m", "gunicorn", "integrations.web.flask_app:app", "--bind",
        f"127.0.0.1:{port}", "--worker-class", "gthread", "--workers", "1", "--threads", "4",
    ]  # fmt: skip


@dataclass
class Server:
    framework: str
    url: str
    database: Engine
    process: Worker

    def post(self, path: str, **params: str) -> httpx.Response:
        return httpx.post(self.url + path, params=params, timeout=30)


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def serving(
    framework: str, database: Engine, broker: str | None = None, *, survives: bool = True
) -> Iterator[Server]:
    """The framework's app in its server process, sending to ``broker`` (default: Redis DB 1);
    ``survives=False`` when the test kills it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = environment(database, broker)
    with running(serve_argv(framework, port), env=env, ready=lambda w: answers(url)) as process:
        yield Server(framework, url, database, process)
        if survives:
            assert process.alive(), process.output()[-3000:]


def relaying(database: Engine) -> contextlib.AbstractContextManager[Worker]:
    """``python -m airlock.relay`` on the suite's outbox table, sending to the worker's broker."""
    argv = [
        "python", "-m", "airlock.relay", "--outbox", "integrations.web.shop:outbox",
        "--url", database.url.render_as_string(hide_password=False),
    ]  # fmt: skip
    return running(argv, env=environment(database), ready=lambda w: "relaying from" in w.output())


def outbox_rows(database: Engine) -> list[tuple[str, str]]:
    """``(label, status)`` of each outbox row, oldest first."""
    table = outbox.table
    with database.connect() as connection:
        found = connection.execute(select(table.c.payload, table.c.status).order_by(table.c.id))
        return [(json.loads(payload)["args"][0], status) for payload, status in found]


def fates(*labels: str) -> dict[str, str]:
    """Wait until the server gave each intent a fate; return ``{label: fate}``."""

    def settled() -> dict[str, str] | None:
        found = {e["label"]: e["fate"] for e in FATES.entries()}
        return found if all(label in found for label in labels) else None

    found = wait_until(settled, timeout=30, what=f"the fates of {labels}")
    every = [e["label"] for e in FATES.entries()]
    assert len(every) == len(set(every)), f"an intent got two fates: {FATES.entries()}"
    return {label: found[label] for label in labels}


def ran_so_far(sentinel: str) -> list[str]:
    """Publish a sentinel and wait for it: everything airlock had published has run by then."""
    send_sentinel(sentinel)
    RAN.wait_for(sentinel)
    return RAN.labels()


def entry(label: str) -> dict:
    [found] = [e for e in RAN.entries() if e["label"] == label]
    return found


def order_rows(server: Server, tag: str) -> int:
    with server.database.connect() as connection:
        rows = connection.execute(select(orders.c.id).where(orders.c.tag == tag)).all()
    return len(rows)
