"""One extra of the distribution, installed alone in a brand-new venv: import, then one real send.

Usage: ``python extras_check.py EXTRA WORKDIR`` with WORKDIR outside the repository (so that
``airlock`` is the installed package, not the source tree); ``.ci/extras`` runs it per extra.
Services as in tests/services.py (``AIRLOCK_REDIS_HOST``/``_PORT``,
``AIRLOCK_AMQP_HOST``/``_PORT``); Redis DB ``AIRLOCK_EXTRAS_REDIS_DB`` (15). Names carry a
per-run token, so runs can overlap.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import airlock

RUN = uuid.uuid4().hex[:10]
_env = os.environ.get
REDIS = "redis://{}:{}/{}".format(
    _env("AIRLOCK_REDIS_HOST", "127.0.0.1"),
    _env("AIRLOCK_REDIS_PORT", "6379"),
    _env("AIRLOCK_EXTRAS_REDIS_DB", "15"),
)
AMQP = "amqp://guest:guest@{}:{}//".format(
    _env("AIRLOCK_AMQP_HOST", "127.0.0.1"), _env("AIRLOCK_AMQP_PORT", "5672")
)
WORK = Path(sys.argv[2]).resolve()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"extras: {what} did not happen within {seconds:.0f}s")
        time.sleep(0.05)


@contextmanager
def process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A worker process in WORK, stopped (and reaped) on the way out."""
    proc = subprocess.Popen(argv, cwd=WORK, env={**os.environ, **env})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_module(name: str, source: str) -> None:
    (WORK / f"{name}.py").write_text(textwrap.dedent(source))
    if str(WORK) not in sys.path:
        sys.path.insert(0, str(WORK))


def setup_django(apps: list[str], **settings: object) -> None:
    """Django on a fresh SQLite file in WORK, as module ``extras_settings`` (workers load it)."""
    lines = [
        f"DATABASES = {{'default': {{'ENGINE': 'django.db.backends.sqlite3', "
        f"'NAME': {str(WORK / 'db.sqlite3')!r}}}}}",
        f"INSTALLED_APPS = {['django.contrib.contenttypes', 'django.contrib.auth', *apps]!r}",
        "USE_TZ = True",
        "SECRET_KEY = 'extras-check'",
        *(f"{key} = {value!r}" for key, value in settings.items()),
    ]
    write_module("extras_settings", "\n".join(lines) + "\n")
    os.environ["DJANGO_SETTINGS_MODULE"] = "extras_settings"
    os.environ["PYTHONPATH"] = str(WORK)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("check", fail_level="ERROR")


def check_django() -> None:
    setup_django(["airlock.integrations.django"])
    from django.db import transaction

    ran: list[str] = []
    with transaction.atomic():
        with airlock.scope():
            airlock.enqueue(ran.append, "after commit")
        assert ran == [], "dispatched before the transaction committed"
    assert ran == ["after commit"], ran


def check_sqlalchemy() -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import sessionmaker

    from airlock.integrations.sqlalchemy import SQLAlchemyScope, track

    maker = track(sessionmaker(create_engine(f"sqlite:///{WORK / 'extras.sqlite3'}")))
    ran: list[str] = []
    with maker() as session, session.begin():
        with airlock.scope(_cls=SQLAlchemyScope):
            session.execute(text("SELECT 1"))
            airlock.enqueue(ran.append, "after commit")
        assert ran == [], "dispatched before the session committed"
    assert ran == ["after commit"], ran


def check_fastapi() -> None:
    import asyncio

    from fastapi import FastAPI

    from airlock.integrations.asgi import AirlockMiddleware
    from airlock.integrations.fastapi import RequestScope

    assert RequestScope is not None
    ran: list[str] = []
    app = FastAPI()
    app.add_middleware(AirlockMiddleware)
    app.post("/")(lambda: airlock.enqueue(ran.append, "sent") and {})
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    request = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    asyncio.run(app({**request, "asgi": {"version": "3.0"}}, receive, send))
    assert sent[0]["status"] == 200 and ran == ["sent"], (sent, ran)


def check_flask() -> None:
    from flask import Flask

    from airlock.integrations.flask import Airlock

    ran: list[str] = []
    app = Flask("extras")
    Airlock(app)
    app.post("/")(lambda: (airlock.enqueue(ran.append, "sent"), "")[1])
    assert app.test_client().post("/").status_code == 200 and ran == ["sent"], ran


def ran_or_exited(out: Path, worker: subprocess.Popen[bytes]) -> bool:
    return out.exists() or worker.poll() is not None


def check_celery() -> None:
    write_module(
        "extras_celery",
        """
        import os, pathlib
        from celery import Celery
        from kombu import Queue

        QUEUE = os.environ["EXTRAS_QUEUE"]
        app = Celery("extras_celery", broker=os.environ["EXTRAS_BROKER"])
        app.conf.task_queues = [Queue(QUEUE, auto_delete=True)]
        app.conf.task_default_queue = QUEUE
        app.conf.broker_connection_retry_on_startup = True

        @app.task(name="extras_celery.touch")
        def touch(name):
            pathlib.Path(os.environ["EXTRAS_OUT"], name).write_text("ran")
        """,
    )
    from airlock.integrations.executors.celery import celery_executor

    for broker_name, url in [("redis", REDIS), ("rabbitmq", AMQP)]:
        env = {
            "EXTRAS_BROKER": url,
            "EXTRAS_QUEUE": f"airlock-extras-{RUN}-{broker_name}",
            "EXTRAS_OUT": str(WORK),
        }
        os.environ.update(env)
        sys.modules.pop("extras_celery", None)
        import extras_celery  # type: ignore[import-not-found]

        argv = [sys.executable, "-m", "celery", "-A", "extras_celery", "worker", "-P", "solo"]
        argv += ["-Q", env["EXTRAS_QUEUE"], "--without-gossip", "--without-mingle"]
        argv += ["--without-heartbeat", "--loglevel", "WARNING"]
        out = WORK / broker_name
        with process(argv, env) as worker:
            with airlock.scope(executor=celery_executor):
                airlock.enqueue(extras_celery.touch, broker_name)
            wait_for(partial(ran_or_exited, out, worker), f"the Celery worker on {broker_name}")
            assert out.exists(), f"the Celery worker on {broker_name} exited: {worker.returncode}"
        extras_celery.app.close()


def check_dramatiq() -> None:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker  # the extra brings pika
    from dramatiq.brokers.redis import RedisBroker

    from airlock.integrations.executors.dramatiq import dramatiq_executor

    assert RabbitmqBroker
    broker = RedisBroker(url=REDIS, namespace=f"airlock-extras-{RUN}")
    dramatiq.set_broker(broker)
    ran = threading.Event()

    @dramatiq.actor(queue_name="extras", max_retries=0)
    def touch(label: str) -> None:
        assert label == "redis"
        ran.set()

    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        with airlock.scope(executor=dramatiq_executor):
            airlock.enqueue(touch, "redis")
        wait_for(ran.is_set, "the dramatiq worker on Redis ran it")
    finally:
        worker.stop()
        broker.flush_all()
        broker.close()


def check_huey() -> None:
    from huey import RedisHuey

    from airlock.integrations.executors.huey import huey_executor

    huey = RedisHuey(f"airlock-extras-{RUN}", url=REDIS)
    ran: list[str] = []

    @huey.task()
    def touch(label: str) -> None:
        ran.append(label)

    try:
        with airlock.scope(executor=huey_executor):
            airlock.enqueue(touch, "redis")
        message = huey.dequeue()  # back from Redis, as a consumer reads it
        assert message is not None, "nothing in huey's Redis queue"
        huey.execute(message)
        assert ran == ["redis"], ran
    finally:
        huey.storage.flush_all()


def check_django_q() -> None:
    setup_django(["django_q"], Q_CLUSTER={"name": f"extras{RUN}", "orm": "default"})
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    from airlock.integrations.executors.django_q import django_q_executor

    with airlock.scope(executor=django_q_executor):
        airlock.enqueue(json.dumps, {"order": 7})
    broker = get_broker()
    queued = broker.dequeue()  # back from the ORM broker's table, as a cluster reads it
    assert queued, "nothing in django-q2's ORM queue"
    ack_id, package = queued[0]
    task = SignedPackage.loads(package)
    assert task["func"] is json.dumps and task["args"] == ({"order": 7},), task
    broker.acknowledge(ack_id)


def check_django_tasks() -> None:
    # The backend is the user's choice, not the extra's: django-tasks-db's database backend.
    setup_django(
        ["django_tasks", "django_tasks_db"],
        TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}},
    )
    write_module(
        "extras_tasks",
        """
        import os, pathlib
        from django_tasks import task

        @task()
        def touch(name):
            pathlib.Path(os.environ["EXTRAS_OUT"], name).write_text("ran")
        """,
    )
    import extras_tasks  # type: ignore[import-not-found]

    from airlock.integrations.executors.django_tasks import django_tasks_executor

    with airlock.scope(executor=django_tasks_executor):
        airlock.enqueue(extras_tasks.touch, "database")
    argv = [sys.executable, "-m", "django", "db_worker", "--batch", "--no-startup-delay"]
    subprocess.run(argv, cwd=WORK, env={**os.environ, "EXTRAS_OUT": str(WORK)}, check=True)
    assert (WORK / "database").exists(), "db_worker did not run the task"


@contextmanager
def http_server(status: int) -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A local HTTP server answering ``status`` to every POST; yields its URL and what it got."""
    received: list[tuple[str, dict[str, str], bytes]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append((self.path, dict(self.headers), body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def resize(image_id: int) -> None:
    """Stands for a task that runs elsewhere (a Lambda function, a webhook receiver)."""


def check_lambda() -> None:
    from airlock.integrations.executors.aws_lambda import lambda_executor

    with http_server(202) as (url, received):
        executor = lambda_executor(
            "thumbnails",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="extras",
            aws_secret_access_key="extras",
        )
        with airlock.scope(executor=executor):
            airlock.enqueue(resize, 7)
    [(path, headers, body)] = received
    assert path == "/2015-03-31/functions/thumbnails/invocations", path
    assert headers.get("X-Amz-Invocation-Type") == "Event", headers
    assert json.loads(body)["args"] == [7], body


def check_webhook() -> None:
    from airlock.integrations.executors.webhook import verify_webhook, webhook_executor

    with http_server(200) as (url, received), airlock.scope(
        executor=webhook_executor(url + "/hook", secret="extras")
    ):
        airlock.enqueue(resize, 7)
    [(_, headers, body)] = received
    assert verify_webhook(body, headers, secret="extras")["args"] == [7]


def check_otel() -> None:
    # The extra is the API only; the SDK is what a user adds (.ci/extras installs it besides).
    from opentelemetry.sdk.trace import TracerProvider

    from airlock.integrations import otel
    from airlock.integrations.executors.webhook import webhook_executor

    provider = TracerProvider()
    otel.instrument(provider, outbox=False)
    tracer = provider.get_tracer("extras")
    with http_server(200) as (url, received), tracer.start_as_current_span("request") as request:
        executor = webhook_executor(url + "/hook", secret="extras")
        with airlock.scope(executor=executor):
            airlock.enqueue(resize, 7)
    [(_, headers, _)] = received
    traceparent = {k.lower(): v for k, v in headers.items()}.get("traceparent", "")
    trace_id = format(request.get_span_context().trace_id, "032x")
    assert traceparent.split("-")[1:2] == [trace_id], headers


def check_debug_toolbar() -> None:
    write_module("extras_urls", "urlpatterns = []\n")
    templates = "django.template.backends.django.DjangoTemplates"
    setup_django(
        ["airlock.integrations.django", "debug_toolbar"],
        ROOT_URLCONF="extras_urls",
        SILENCED_SYSTEM_CHECKS=["debug_toolbar.W001"],  # the panel runs without the middleware
        TEMPLATES=[{"BACKEND": templates, "APP_DIRS": True}],
        DEBUG_TOOLBAR_PANELS=["airlock.integrations.django.debug_toolbar.AirlockPanel"],
        MIDDLEWARE=["airlock.integrations.django.AirlockMiddleware"],
    )
    from debug_toolbar.toolbar import DebugToolbar
    from django.http import HttpResponse
    from django.test import RequestFactory

    def view(request: object) -> HttpResponse:
        with airlock.scope():
            airlock.enqueue(resize, 7)
        return HttpResponse("ok")

    request = RequestFactory().get("/")
    panel = DebugToolbar(request, view).get_panel_by_id("AirlockPanel")
    panel.generate_stats(request, panel.process_request(request))
    assert "dispatched" in panel.content and "resize" in panel.content, panel.content


def check_all() -> None:
    import importlib

    setup_django(["airlock.integrations.django", "django_q", "django_tasks"])
    for name in ["celery", "dramatiq", "huey", "django_q", "django_tasks"]:
        importlib.import_module(f"airlock.integrations.{name}")
        importlib.import_module(f"airlock.integrations.executors.{name}")
    importlib.import_module("airlock.integrations.sqlalchemy")
    importlib.import_module("airlock.integrations.fastapi")
    importlib.import_module("airlock.integrations.flask")
    importlib.import_module("airlock.integrations.executors.aws_lambda").lambda_executor("f")


CHECKS = {
    "django": check_django,
    "celery": check_celery,
    "dramatiq": check_dramatiq,
    "huey": check_huey,
    "django-q": check_django_q,
    "django-tasks": check_django_tasks,
    "lambda": check_lambda,
    "webhook": check_webhook,
    "sqlalchemy": check_sqlalchemy,
    "fastapi": check_fastapi,
    "flask": check_flask,
    "otel": check_otel,
    "debug-toolbar": check_debug_toolbar,
    "all": check_all,
}

if __name__ == "__main__":
    assert not Path("airlock").exists(), "run from outside the repository"
    assert "site-packages" in (airlock.__file__ or ""), airlock.__file__
    CHECKS[sys.argv[1]]()
    print(f"extras: {sys.argv[1]} ok")
