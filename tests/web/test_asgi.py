"""AirlockMiddleware on a real Starlette/FastAPI app, driven by Starlette's TestClient."""

from __future__ import annotations

import contextlib
import threading

import pytest

from tests.services import require_module

require_module("fastapi", "fastapi")  # first: the extra's own name (it brings starlette)
require_module("starlette", "fastapi")
require_module("httpx", "dev")

from fastapi import BackgroundTasks, FastAPI, HTTPException  # noqa: E402
from starlette.responses import StreamingResponse  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402

import airlock  # noqa: E402
import airlock.testing  # noqa: E402
from airlock.integrations.asgi import AirlockMiddleware  # noqa: E402
from airlock.integrations.fastapi import RequestScope  # noqa: E402
from tests.web.conftest import Sent, task  # noqa: E402


class Boom(Exception):
    pass


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(AirlockMiddleware)
    seen: dict[str, object] = {}
    app.state.seen = seen

    @app.post("/ok")
    async def ok() -> dict[str, str]:
        airlock.enqueue(task, "ok")
        return {"ok": "yes"}

    @app.post("/sync")
    def sync_view() -> dict[str, str]:  # FastAPI runs it in a worker thread
        airlock.enqueue(task, "sync")
        return {"ok": "yes"}

    @app.post("/created", status_code=201)
    async def created() -> dict[str, str]:
        airlock.enqueue(task, "created")
        return {}

    @app.post("/missing")
    async def missing() -> None:
        airlock.enqueue(task, "missing")
        raise HTTPException(404)

    @app.post("/conflict")
    async def conflict() -> None:
        airlock.enqueue(task, "conflict")
        raise HTTPException(409)

    @app.post("/boom")
    async def boom() -> None:
        airlock.enqueue(task, "boom")
        raise Boom

    @app.post("/scope")
    async def with_scope(scope: RequestScope) -> dict[str, object]:
        airlock.enqueue(task, "dep")
        return {"same": scope is airlock.get_current_scope(), "held": len(scope.intents)}

    @app.post("/later")
    async def later(background: BackgroundTasks) -> dict[str, str]:
        background.add_task(airlock.enqueue, task, "background")
        return {}

    @app.post("/stream")
    async def stream() -> StreamingResponse:
        async def body():
            for n in range(3):
                scope = airlock.get_current_scope()
                seen[f"active{n}"] = scope is not None and scope.is_active
                airlock.enqueue(task, f"chunk{n}")
                yield f"{n}\n"

        return StreamingResponse(body())

    @app.post("/stream-then-fail")
    async def stream_then_fail() -> StreamingResponse:
        async def body():
            airlock.enqueue(task, "partial")
            yield "0\n"
            raise Boom

        return StreamingResponse(body())

    return app


@pytest.fixture
def client():
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("path", "status"), [("/ok", 200), ("/sync", 200), ("/created", 201)])
def test_a_successful_request_dispatches(client, sent: Sent, path, status):
    assert client.post(path).status_code == status
    assert sent.notes == [path.strip("/")]


@pytest.mark.parametrize(
    ("path", "status"), [("/missing", 404), ("/conflict", 409), ("/boom", 500)]
)
def test_a_4xx_5xx_or_exception_discards(client, sent: Sent, path, status):
    with airlock.testing.capture(execute=True) as fates:
        assert client.post(path).status_code == status
    assert sent.notes == []
    assert [r.intent.args[0] for r in fates.discarded] == [path.strip("/")]


def test_flushing_runs_off_the_event_loop(client, sent: Sent):
    client.post("/ok")
    assert sent.threads and sent.threads[0] != threading.get_ident()
    loop_thread = client.portal.call(threading.get_ident)  # the event loop's thread
    assert sent.threads[0] != loop_thread


def test_the_dependency_is_the_requests_scope(client, sent: Sent):
    assert client.post("/scope").json() == {"same": True, "held": 1}
    assert sent.notes == ["dep"]


def test_a_streaming_response_keeps_the_scope_open_until_the_body_ends(client, sent: Sent):
    response = client.post("/stream")
    assert response.text == "0\n1\n2\n"
    assert client.app.state.seen == {"active0": True, "active1": True, "active2": True}
    assert sent.notes == ["chunk0", "chunk1", "chunk2"]


def test_background_tasks_enqueue_into_the_request(client, sent: Sent):
    assert client.post("/later").status_code == 200
    assert sent.notes == ["background"]


def test_a_stream_that_fails_midway_discards(client, sent: Sent):
    client.post("/stream-then-fail")
    assert sent.notes == []


def test_lifespan_and_websocket_get_no_scope(sent: Sent):
    found = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        found["lifespan"] = airlock.get_current_scope()
        yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(AirlockMiddleware)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        found["scope"] = airlock.get_current_scope()
        await websocket.send_text("hi")
        await websocket.close()

    with TestClient(app) as client, client.websocket_connect("/ws") as socket:
        assert socket.receive_text() == "hi"
    assert found == {"lifespan": None, "scope": None}


def test_the_configured_scope_class_is_used(tmp_path, sent: Sent):
    require_module("sqlalchemy", "sqlalchemy")
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    from airlock.integrations.sqlalchemy import SQLAlchemyScope, track

    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("create table orders (note text)"))
    maker = track(sessionmaker(engine))
    airlock.configure(scope_cls=SQLAlchemyScope)
    app = FastAPI()
    app.add_middleware(AirlockMiddleware)

    @app.post("/order/{note}")
    def order(note: str, scope: RequestScope) -> dict[str, str]:
        with maker() as session:
            session.execute(text("insert into orders values (:n)"), {"n": note})
            airlock.enqueue(task, note)
            if note == "undo":
                session.rollback()
            else:
                session.commit()
        return {"scope": type(scope).__name__}

    with TestClient(app) as client:
        assert client.post("/order/kept").json() == {"scope": "SQLAlchemyScope"}
        assert client.post("/order/undo").status_code == 200
    assert sent.notes == ["kept"]
    engine.dispose()
