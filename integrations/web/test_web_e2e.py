"""Web end to end: FastAPI on uvicorn and Flask on gunicorn, SQLAlchemy on PostgreSQL, Celery.

Real processes only, driven over HTTP: one Celery worker (solo pool, Redis DB 1, queue
``airlock_web_e2e``) for the module, and per framework one server process: the FastAPI app
(``fastapi_app``, AsyncSession on asyncpg) under uvicorn, the Flask app (``flask_app``, sync
Session on psycopg) under gunicorn's threaded worker. Both use a database of their own,
``airlock_web_e2e<AIRLOCK_DB_SUFFIX>``, made here and dropped afterwards (no Django involved).

The negative is observed, never waited out: the servers record each intent's fate (Redis DB 2),
and the test waits for the fates of a request's intents before it publishes a sentinel straight
to the broker. The worker takes one message at a time, in order, so once it has run the
sentinel, whatever airlock had published has run too: what the worker ran so far is everything
that left.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.processes import running, wait_until
from tests.services import PG_USER, SERVICES, redis_url, require_module, require_service

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
from sqlalchemy import Engine, create_engine, select, text  # noqa: E402

from integrations.web.shop import metadata, orders, release_key  # noqa: E402
from integrations.web.tasks import FATES, QUEUE, RAN, app, clear, send_sentinel  # noqa: E402

DB_NAME = f"airlock_web_e2e{os.environ.get('AIRLOCK_DB_SUFFIX', '')}"
WORKER = [
    "python", "-m", "celery", "-A", "integrations.web.tasks", "worker", "--pool=solo",
    "--purge", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=info",
    "-Q", QUEUE, "-n", "web@%h",
]  # fmt: skip


def database_url(name: str) -> str:
    host, port = SERVICES["postgres"]
    return f"postgresql+psycopg://{PG_USER}@{host}:{port}/{name}"


@pytest.fixture(scope="module")
def database():
    """The suite's own database, with the ``web_orders`` table; dropped afterwards."""
    require_service("postgres")
    require_service("redis")
    admin = create_engine(database_url("postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    engine = create_engine(database_url(DB_NAME))
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


def environment(database) -> dict[str, str]:
    return {
        "AIRLOCK_WEB_BROKER": redis_url(1),
        "AIRLOCK_WEB_DB": database.url.render_as_string(hide_password=False),
    }


@pytest.fixture(scope="module")
def worker(database):
    app.conf.broker_url = redis_url(1)
    with running(
        WORKER, env=environment(database), ready=lambda w: " ready." in w.output()
    ) as process:
        yield process
        assert process.alive(), process.output()[-3000:]


def free_port() -> int:
    import socket

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

    def post(self, path: str, **params: str) -> httpx.Response:
        return httpx.post(self.url + path, params=params, timeout=30)


def answers(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module", params=["fastapi", "flask"])
def server(request, database, worker):
    """The framework's app in its server process, for the whole module."""
    url = f"http://127.0.0.1:{free_port()}"
    argv = serve_argv(request.param, int(url.rsplit(":", 1)[1]))
    with running(argv, env=environment(database), ready=lambda w: answers(url)) as process:
        yield Server(request.param, url, database)
        assert process.alive(), process.output()[-3000:]


@pytest.fixture(autouse=True)
def empty_recorders(worker):
    clear()
    yield


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


def test_a_committed_request_runs_its_tasks_after_the_commit(server):
    tag = f"{server.framework}-commit"
    response = server.post(f"/orders/{tag}")
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["held"] == 2  # the request's scope (RequestScope / g.airlock_scope) holds both
    assert fates(f"{tag}:order", f"{tag}:mail") == {
        f"{tag}:order": "dispatched",
        f"{tag}:mail": "dispatched",
    }
    # exactly the two tasks, in enqueue order; the first found the committed row
    assert ran_so_far(f"{tag}:sentinel") == [f"{tag}:order", f"{tag}:mail", f"{tag}:sentinel"]
    assert entry(f"{tag}:order")["order_id"] == data["order"]
    assert entry(f"{tag}:order")["order_tag"] == tag


@pytest.mark.parametrize(
    ("outcome", "status", "fate", "rows"),
    [
        ("rollback", 200, "rolled_back", 0),  # the session rolled back, the response is fine
        ("reject", 409, "discarded", 1),  # committed, but a 4xx response discards the scope
        ("error", 500, "discarded", 1),  # committed, then an exception: a 500, discarded
    ],
)
def test_a_rolled_back_or_failed_request_runs_nothing(server, outcome, status, fate, rows):
    tag = f"{server.framework}-{outcome}"
    assert server.post(f"/orders/{tag}", outcome=outcome).status_code == status
    assert fates(f"{tag}:order", f"{tag}:mail") == {f"{tag}:order": fate, f"{tag}:mail": fate}
    assert ran_so_far(f"{tag}:sentinel") == [f"{tag}:sentinel"]
    assert order_rows(server, tag) == rows


def test_a_rolled_back_savepoint_drops_only_its_own_intent(server):
    tag = f"{server.framework}-savepoint"
    assert server.post(f"/savepoint/{tag}").status_code == 200
    assert fates(f"{tag}:outer", f"{tag}:inner") == {
        f"{tag}:outer": "dispatched",
        f"{tag}:inner": "rolled_back",
    }
    assert ran_so_far(f"{tag}:sentinel") == [f"{tag}:outer", f"{tag}:sentinel"]
    assert entry(f"{tag}:outer")["order_tag"] == tag
    assert order_rows(server, tag) == 1


def test_concurrent_requests_keep_their_own_fates(server):
    """Requests run at once (uvicorn's event loop, gunicorn's threads): each keeps its fate."""
    outcomes = ["commit", "rollback", "reject", "commit", "error", "rollback", "commit", "commit"]
    tags = [f"{server.framework}-many{i}-{outcome}" for i, outcome in enumerate(outcomes)]
    with ThreadPoolExecutor(len(tags)) as pool:
        statuses = list(
            pool.map(
                lambda t: server.post(f"/orders/{t}", outcome=t.rsplit("-", 1)[1]).status_code, tags
            )
        )
    assert statuses == [
        {"commit": 200, "rollback": 200, "reject": 409, "error": 500}[o] for o in outcomes
    ]
    labels = [f"{tag}:{task}" for tag in tags for task in ("order", "mail")]
    expected = {
        f"{tag}:{task}": {"commit": "dispatched", "rollback": "rolled_back"}.get(
            outcome, "discarded"
        )
        for tag, outcome in zip(tags, outcomes)
        for task in ("order", "mail")
    }
    assert fates(*labels) == expected
    ran = ran_so_far(f"{server.framework}-many-sentinel")
    committed = {label for label, fate in expected.items() if fate == "dispatched"}
    assert set(ran[:-1]) == committed and len(ran) == len(committed) + 1
    for tag, outcome in zip(tags, outcomes):
        if outcome == "commit":
            assert entry(f"{tag}:order")["order_tag"] == tag


@pytest.mark.parametrize("server", ["fastapi"], indirect=True)
def test_a_streaming_response_dispatches_after_its_body_completes(server):
    tag = "fastapi-stream"
    FATES.client.delete(release_key(tag))
    with httpx.stream("GET", f"{server.url}/stream/{tag}", timeout=30) as response:
        chunks = response.iter_raw()
        assert next(chunks) == b"first\n"
        # the body is still being sent: the intent is held in the request's scope
        assert ran_so_far(f"{tag}:sentinel-1") == [f"{tag}:sentinel-1"]
        assert FATES.entries() == []
        FATES.client.set(release_key(tag), 1)
        assert b"".join(chunks) == b"last\n"
    FATES.client.delete(release_key(tag))
    assert fates(f"{tag}:stream") == {f"{tag}:stream": "dispatched"}
    assert ran_so_far(f"{tag}:sentinel-2") == [
        f"{tag}:sentinel-1",
        f"{tag}:stream",
        f"{tag}:sentinel-2",
    ]
