"""AirlockMiddleware and the intent lifecycle: failures after commit never become a 500.

A policy raising at flush fails its intent (logged, signalled) and the response stays what the
view returned; a dry-run scope inside a request stays a dry run; a streaming response closed
from another thread settles every intent once. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextvars
import logging
import threading

import pytest
from django.db import connections

import airlock
from airlock.exceptions import PolicyError
from airlock.integrations.django import signals
from airlock.testing import capture
from tests.django.models import Note

APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
pytestmark = [
    pytest.mark.urls("tests.django.lifecycle_views"),
    pytest.mark.django_db(
        transaction=True, databases=["default", "other"], available_apps=[*APPS, "tests.django"]
    ),
]


@pytest.fixture
def failures():
    seen: list[tuple[str, BaseException]] = []

    def receiver(sender, intent, scope, error, **kwargs):
        seen.append((str(intent), error))

    signals.intent_failed.connect(receiver)
    yield seen
    signals.intent_failed.disconnect(receiver)


@pytest.fixture(params=[False, True], ids=["autocommit", "atomic_requests"])
def atomic_requests(request, monkeypatch):
    if request.param:
        monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)
    return request.param


def assert_only_middle_failed(ran, failures, caplog, seen):
    assert ran == ["first", "last"]
    ((label, error),) = failures
    assert label == "record('middle')"
    assert isinstance(error, PolicyError) and "BrokenPolicy()" in str(error)
    assert isinstance(error.__cause__, ValueError)
    assert "record('middle')" in caplog.text and "BrokenPolicy()" in caplog.text
    assert sorted((r.args[0], r.fate) for r in seen) == [
        ("first", "dispatched"),
        ("last", "dispatched"),
        ("middle", "failed"),
    ]


def test_a_scope_policy_raising_after_the_data_committed_still_answers_200(
    client, settings, ran, failures, caplog, atomic_requests
):
    settings.AIRLOCK = {"POLICY": "tests.django.lifecycle_views.BrokenPolicy"}
    with caplog.at_level(logging.ERROR, logger="airlock"), capture(execute=True) as seen:
        response = client.get("/commit-then-enqueue")
    assert response.status_code == 200
    assert Note.objects.count() == 1
    assert response.wsgi_request.airlock_scope.is_flushed
    assert_only_middle_failed(ran, failures, caplog, seen)


def test_a_local_policy_raising_after_the_data_committed_still_answers_200(
    client, ran, failures, caplog, atomic_requests
):
    with caplog.at_level(logging.ERROR, logger="airlock"), capture(execute=True) as seen:
        response = client.get("/local-policy")
    assert response.status_code == 200
    assert Note.objects.count() == 1
    assert_only_middle_failed(ran, failures, caplog, seen)


def test_a_logging_executor_dry_run_inside_a_request_stays_a_dry_run(
    client, ran, caplog, atomic_requests
):
    with caplog.at_level(logging.INFO, logger="airlock.dryrun"), capture(execute=True) as seen:
        response = client.get("/dry-run")
    assert response.status_code == 200
    assert ran == ["real"]
    assert "airlock dry run: would run record('dry')" in caplog.text
    scope = response.wsgi_request.airlock_scope
    assert [i.args[0] for i in scope.captured_intents] == ["dry"]  # the request decided when
    assert [(r.args[0], r.fate) for r in seen] == [("real", "dispatched"), ("dry", "dispatched")]


def test_a_streaming_response_closed_from_another_thread_settles_every_intent_once(client, ran):
    reported: list[tuple[str, str]] = []
    unsubscribe = airlock._events.subscribe(
        lambda event, intent, scope, detail: reported.append((event, intent.args[0]))
    )
    try:
        response = stream_and_close_elsewhere(client, ran)
    finally:
        unsubscribe()
    assert ran == ["one", "two"]
    assert [r for r in reported if r[0] not in ("enqueued", "captured")] == [
        ("dispatched", "one"),
        ("dispatched", "two"),
    ]
    assert response.wsgi_request.airlock_scope.is_flushed
    assert airlock.get_current_scope() is None


def stream_and_close_elsewhere(client, ran):
    """Request /stream, then read (and so close) its body in another thread, then close it
    again here as a server might; return the response."""
    with capture(execute=True) as seen:
        # The request runs in a copy of this context: the scope it leaves current until the
        # response is closed stays out of the test's own context.
        response = contextvars.copy_context().run(client.get, "/stream")
        assert ran == []
        body: list[bytes] = []
        reader = threading.Thread(target=lambda: body.append(b"".join(response.streaming_content)))
        reader.start()
        reader.join(30)
        assert not reader.is_alive()
        response.close()  # a second close settles nothing again
    assert body == [b"ab"]
    assert [(r.args[0], r.fate) for r in seen] == [("one", "dispatched"), ("two", "dispatched")]
    return response
