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

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.web.servers import entry, fates, order_rows, ran_so_far
from integrations.web.shop import release_key
from integrations.web.tasks import FATES


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


@pytest.mark.parametrize("server", ["fastapi"], indirect=True)
def test_a_client_that_leaves_mid_stream_leaves_the_decision_to_the_status(server):
    """uvicorn speaks ASGI 2.3: Starlette stops the body and returns normally, so the 200
    decides and what the body enqueued so far is dispatched (as Django settles a streaming
    response when the server closes it). A 2.4 server would make Starlette raise instead."""
    tag = "fastapi-leaves"
    FATES.client.delete(release_key(tag))  # never released: the body waits until cancelled
    with httpx.stream("GET", f"{server.url}/stream/{tag}", timeout=30) as response:
        assert next(response.iter_raw()) == b"first\n"
    assert fates(f"{tag}:stream") == {f"{tag}:stream": "dispatched"}
    assert ran_so_far(f"{tag}:sentinel") == [f"{tag}:stream", f"{tag}:sentinel"]
