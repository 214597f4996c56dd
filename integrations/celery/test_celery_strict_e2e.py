"""Strict mode end to end: a Django view in AirlockMiddleware, Redis, a real Celery worker.

In the test process a direct ``.delay()`` inside the request's ``atomic`` is reported with the
view's file and line ("raise": nothing leaves; "warn": once per call site, the message leaves);
the same call through ``airlock.enqueue`` is not. The worker (its own module-scoped process on
Redis DB 1, recorder DB 2, ``AIRLOCK_STRICT=raise``) reports a direct ``.delay()`` in a task
body's scope, and not: airlock's own follow-ups, Celery's own retry, nor a direct call in a task
body with no scope and no transaction.
"""

from __future__ import annotations

import contextlib
import os
import signal
import warnings
from pathlib import Path

import pytest

from tests.processes import wait_until
from tests.services import redis_url, require_module, require_service

require_module("celery", "celery")

import airlock  # noqa: E402
from airlock import _config  # noqa: E402
from airlock.exceptions import StrictModeError, StrictModeWarning  # noqa: E402
from airlock.integrations.executors.celery import celery_executor  # noqa: E402
from integrations.celery import views, worker_app  # noqa: E402
from integrations.celery.test_celery_e2e import worker_argv  # noqa: E402
from integrations.celery.views import worker_ran_so_far  # noqa: E402
from integrations.celery.worker_app import DEFAULT_QUEUE, RECORDER, use_broker  # noqa: E402
from integrations.common.workers import django_worker  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


def line_of(module: object, marker: str) -> tuple[str, int]:
    path = str(module.__file__)  # type: ignore[attr-defined]
    lines = Path(path).read_text().splitlines()
    [line] = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    return path, line


@pytest.fixture(scope="module")
def worker(e2e_db_name):
    """One worker on Redis with strict mode "raise", for the whole module."""
    require_service("redis")
    url = redis_url(1)
    import redis

    redis.Redis.from_url(url).flushdb()
    use_broker(url)
    env = {"AIRLOCK_CELERY_BROKER": url, "AIRLOCK_CELERY_WORKER": "1", "AIRLOCK_STRICT": "raise"}
    argv = worker_argv(DEFAULT_QUEUE, "strict")
    with django_worker(argv, db_name=e2e_db_name, env=env) as process:
        wait_until(
            lambda: " ready." in process.output() or not process.alive(),
            timeout=60,
            what="a Celery worker to be ready",
        )
        assert process.alive(), process.output()[-3000:]
        yield process
        assert process.alive(), process.output()[-3000:]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.proc.pid, signal.SIGTERM)


@pytest.fixture(autouse=True)
def strict(worker):
    """``celery_executor`` and ``configure(strict=...)`` in the test process; the configuration
    is restored after."""
    saved = {k: dict(v) if isinstance(v, dict) else v for k, v in _config.current().items()}
    airlock.configure(executor=celery_executor)
    RECORDER.flush()
    yield airlock.configure
    _config.current().clear()
    _config.current().update(saved)
    airlock.configure(strict=False)


def test_a_bypass_in_a_requests_atomic_raises_at_the_views_line_and_nothing_leaves(client, strict):
    strict(strict="raise")
    with pytest.raises(StrictModeError) as error:
        client.get("/celery/strict/bypass/")
    assert (error.value.filename, error.value.lineno) == line_of(views, "# STRICT BYPASS")
    assert worker_ran_so_far("sentinel-after") == ["sentinel-after"]  # nothing had left


def test_warn_reports_the_call_site_once_and_the_message_leaves(client, strict):
    strict(strict="warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.get("/celery/strict/bypass/")
        client.get("/celery/strict/bypass/")
    reports = [w for w in caught if w.category is StrictModeWarning]
    assert [(w.filename, w.lineno) for w in reports] == [line_of(views, "# STRICT BYPASS")]
    assert worker_ran_so_far("sentinel-after") == ["bypass", "bypass", "sentinel-after"]


def test_the_same_call_through_airlock_is_not_reported_here_or_in_the_worker(client, strict):
    strict(strict="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error", StrictModeWarning)
        assert client.get("/celery/strict/enqueue/").status_code == 200
    RECORDER.wait_for("through-airlock")
    # in the worker: the scoped body's direct .delay() was reported at its line, nothing left;
    # the unscoped body's (no scope, no transaction) went through
    RECORDER.wait_for("body-bypass-reported")
    [reported] = [e for e in RECORDER.entries() if e["label"] == "body-bypass-reported"]
    assert (reported["kwargs"]["file"], reported["kwargs"]["line"]) == line_of(
        worker_app, "# STRICT BODY BYPASS"
    )
    RECORDER.wait_for("unscoped-child")
    assert "body-bypass" not in worker_ran_so_far("sentinel-after")


def test_celery_own_retry_and_airlock_follow_ups_pass_in_a_strict_worker(client, strict):
    strict(strict="raise")
    client.get("/celery/spawns/?retry=1")
    RECORDER.wait_for("attempt-follow-up")
    RECORDER.wait_for("follow-up")
    worker_ran_so_far("sentinel-after")
    follow_ups = [e["args"] for e in RECORDER.entries() if e["label"] == "attempt-follow-up"]
    assert follow_ups == [["retried", 1]]  # the retry (Celery's own publish) left
