"""The Flask extension: Flask's test client, and a real WSGI server (werkzeug) over HTTP."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

import pytest

from tests.services import require_module

require_module("flask", "flask")

from flask import Flask, abort, g  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

import airlock  # noqa: E402
import airlock.testing  # noqa: E402
from airlock.integrations.flask import Airlock  # noqa: E402
from tests.web.conftest import Sent, task  # noqa: E402


class Boom(Exception):
    pass


def make_app(*, init_app: bool = False) -> Flask:
    app = Flask(__name__)
    if init_app:
        Airlock().init_app(app)
    else:
        Airlock(app)

    @app.post("/ok")
    def ok():
        airlock.enqueue(task, "ok")
        return {"same": g.airlock_scope is airlock.get_current_scope()}

    @app.post("/created")
    def created():
        airlock.enqueue(task, "created")
        return "", 201

    @app.post("/missing")
    def missing():
        airlock.enqueue(task, "missing")
        abort(404)

    @app.post("/error-response")
    def error_response():
        airlock.enqueue(task, "error-response")
        return "no", 503

    @app.post("/boom")
    def boom():
        airlock.enqueue(task, "boom")
        raise Boom

    @app.post("/handled")
    def handled():
        airlock.enqueue(task, "handled")
        raise KeyError("handled")

    @app.post("/stream")
    def stream():
        airlock.enqueue(task, "before")

        def body():
            yield "current: " + str(airlock.get_current_scope())

        return body()

    @app.errorhandler(KeyError)
    def key_error(error):
        return "handled", 400

    return app


@pytest.mark.parametrize("init_app", [False, True], ids=["Airlock(app)", "init_app"])
def test_a_successful_request_dispatches(sent: Sent, init_app: bool):
    client = make_app(init_app=init_app).test_client()
    assert client.post("/ok").json == {"same": True}
    assert client.post("/created").status_code == 201
    assert sent.notes == ["ok", "created"]
    assert airlock.get_current_scope() is None


@pytest.mark.parametrize(
    ("path", "status"),
    [("/missing", 404), ("/error-response", 503), ("/boom", 500), ("/handled", 400)],
)
def test_a_4xx_5xx_or_exception_discards(sent: Sent, path: str, status: int):
    app = make_app()
    with airlock.testing.capture(execute=True) as fates:
        assert app.test_client().post(path).status_code == status
    assert sent.notes == []
    assert [r.intent.args[0] for r in fates.discarded] == [path.strip("/")]
    assert airlock.get_current_scope() is None


def test_a_streamed_body_runs_after_teardown(sent: Sent):
    response = make_app().test_client().post("/stream")
    assert response.text == "current: None"
    assert sent.notes == ["before"]


def test_a_real_wsgi_server(sent: Sent):
    server = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{url}/boom", method="POST"), timeout=10)
        assert refused.value.code == 500
        refused.value.close()
        with urllib.request.urlopen(
            urllib.request.Request(f"{url}/ok", method="POST"), timeout=10
        ) as r:
            assert r.status == 200
        sent.wait_for("ok")
        assert sent.notes == ["ok"]
        assert sent.threads[0] != threading.get_ident()  # the server's request thread
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
