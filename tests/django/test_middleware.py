"""AirlockMiddleware: the response decides, sync and async, streaming, ATOMIC_REQUESTS."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request

import pytest
from django.db import connections

from airlock.integrations.django import DjangoScope, signals
from tests.django.models import Note

# available_apps keeps the flush after each transactional test small (auth: for the middleware).
APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions"]
transactional = pytest.mark.django_db(
    transaction=True, databases=["default", "other"], available_apps=[*APPS, "tests.django"]
)


@pytest.mark.parametrize("code", [200, 201, 204, 302])
def test_2xx_and_3xx_flush(client, ran, code):
    assert client.get(f"/status/{code}").status_code == code
    assert ran == [f"status {code}"]


@pytest.mark.parametrize("code", [400, 404, 500])
def test_4xx_and_5xx_discard(client, ran, code):
    discarded = []

    def receiver(sender, intents, scope, **kw):
        discarded.extend(i.args[0] for i in intents)

    signals.intents_discarded.connect(receiver)
    try:
        assert client.get(f"/status/{code}").status_code == code
    finally:
        signals.intents_discarded.disconnect(receiver)
    assert ran == []
    assert discarded == [f"status {code}"]


def test_exception_discards_and_propagates(client, ran):
    with pytest.raises(ValueError, match="the view failed"):
        client.get("/boom")
    assert ran == []


def test_request_airlock_scope_is_set(client):
    assert client.get("/scope").json() == {"scope": "DjangoScope"}


class CustomScope(DjangoScope):
    pass


def test_middleware_honours_the_scope_setting(client, settings):
    settings.AIRLOCK = {"SCOPE": "tests.django.test_middleware.CustomScope"}
    assert client.get("/scope").json() == {"scope": "CustomScope"}


class TaggedScope(DjangoScope):
    def __init__(self, policy=None, *, executor=None, tag=None):
        super().__init__(policy, executor=executor)
        self.tag = tag


def test_middleware_honours_scope_kwargs_and_policy(client, settings, ran):
    settings.AIRLOCK = {
        "SCOPE": "tests.django.test_middleware.TaggedScope",
        "SCOPE_KWARGS": {"tag": "from settings"},
        "POLICY": "airlock.DropAll",
    }

    response = client.get("/status/200")
    scope = response.wsgi_request.airlock_scope
    assert (type(scope).__name__, scope.tag, type(scope.policy).__name__) == (
        "TaggedScope",
        "from settings",
        "DropAll",
    )
    assert ran == []  # DropAll: nothing dispatched


async def test_async_view_through_async_client(async_client, ran):
    response = await async_client.get("/async")
    assert response.status_code == 200
    assert response.json() == {"scope": "DjangoScope"}
    assert ran == ["async"]


async def test_async_client_discards_on_error_status(async_client, ran):
    assert (await async_client.get("/status/404")).status_code == 404
    assert ran == []


def test_streaming_response_keeps_scope_open_until_closed(client, ran):
    response = client.get("/stream")
    assert ran == []  # the body has not been sent yet
    assert b"".join(response.streaming_content) == b"one two"  # the client closes at the end
    assert ran == ["before the body", "while streaming"]


async def test_async_streaming_response_keeps_scope_open_until_closed(async_client, ran):
    response = await async_client.get("/async-stream")
    assert ran == []
    assert b"".join([chunk async for chunk in response.streaming_content]) == b"one two"
    assert ran == ["before the async body", "while streaming async"]


@pytest.fixture
def atomic_requests(monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "ATOMIC_REQUESTS", True)


@transactional
def test_atomic_requests_commit_then_dispatch(client, ran, atomic_requests):
    assert client.get("/write").status_code == 200
    assert ran == ["atomic request"]
    assert Note.objects.count() == 1


@transactional
def test_atomic_requests_view_that_enqueues_then_raises_dispatches_nothing(
    client, ran, atomic_requests
):
    with pytest.raises(ValueError, match="after the write"):
        client.get("/write?fail=1")
    assert ran == []
    assert Note.objects.count() == 0


@transactional
def test_failing_intent_in_a_view_others_go_200_logged_and_signalled(
    client, ran, caplog, atomic_requests
):
    failed = []

    def receiver(sender, intent, scope, error, **kw):
        failed.append(str(intent))

    signals.intent_failed.connect(receiver)
    try:
        with caplog.at_level(logging.ERROR, logger="airlock"):
            response = client.get("/failing")
    finally:
        signals.intent_failed.disconnect(receiver)
    assert response.status_code == 200
    assert ran == ["first", "last"]
    assert failed == ["explode('middle')"]
    assert "dispatching <Intent explode('middle')" in caplog.text
    assert Note.objects.count() == 1


@transactional
def test_concurrent_requests_on_a_live_server_never_share_intents(live_server, ran):
    results = {}

    def call(tag):
        with urllib.request.urlopen(f"{live_server.url}/concurrent/{tag}", timeout=30) as r:
            results[tag] = json.loads(r.read())["intents"]

    threads = [threading.Thread(target=call, args=(tag,)) for tag in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"A": ["A-1", "A-2"], "B": ["B-1", "B-2"]}
    assert sorted(ran) == ["A-1", "A-2", "B-1", "B-2"]


def test_a_request_scope_is_built_without_init_or_policy_work(client, monkeypatch):
    # The scope of every request costs one object: DjangoScope's __init__ (which only records
    # `using=`) is skipped, and the configured AllowAll is the class default the fast paths
    # recognise (a refactor once lost both and made every request pay six more calls).
    from airlock._scope import Scope

    def refuse(*args, **kwargs):
        raise AssertionError("airlock.scope() called DjangoScope.__init__")

    monkeypatch.setattr(DjangoScope, "__init__", refuse)
    response = client.get("/status/200")
    scope = response.wsgi_request.airlock_scope
    assert type(scope) is DjangoScope and scope.is_flushed
    assert "_policy" not in vars(scope) and scope.policy is Scope._policy
