"""Web end to end: the FastAPI process SIGKILLed after a commit loses no durable intent.

The FastAPI app (uvicorn, ``AsyncSession`` on asyncpg) has the SQLAlchemy outbox installed and
marks its intents durable (``durable=1``); their rows are inserted right before each request's
COMMIT. Requests sent with ``hold=1`` stop once their transaction has ended, before the
middleware's flush, and set a Redis key: the test waits for the keys, checks the rows, and
SIGKILLs the server at exactly that point. Nothing was sent. Then ``python -m airlock.relay``
(a real process) sends the committed rows to the real Celery worker: each intent runs once;
the rolled-back request's intents never run, nor do those of a 409 (discarded, rows deleted)
or, a second time, those of a request that completed before the kill (rows ``sent``). Every
"never" is read behind a sentinel the worker runs after everything published before it.
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from integrations.web.servers import (
    entry,
    fates,
    order_rows,
    outbox_rows,
    ran_so_far,
    relaying,
    serving,
)
from integrations.web.shop import held_key
from integrations.web.tasks import FATES, RAN
from tests.processes import wait_until

pytestmark = pytest.mark.timeout(120)

TASKS = ("order", "mail")


def labels(*tags: str) -> list[str]:
    return [f"{tag}:{task}" for tag in tags for task in TASKS]


def rows(database) -> list[tuple[str, str]]:
    """The outbox rows, sorted (concurrent requests commit in any order)."""
    return sorted(outbox_rows(database))


def expected(sent: list[str], pending: list[str]) -> list[tuple[str, str]]:
    return sorted([(label, "sent") for label in sent] + [(label, "pending") for label in pending])


def test_a_sigkilled_fastapi_process_loses_no_durable_intent(database, worker):
    done, rejected = "sigkill-done", "sigkill-rejected"
    held = {"sigkill-held-1": "commit", "sigkill-held-2": "commit", "sigkill-undone": "rollback"}
    committed = ["sigkill-held-1", "sigkill-held-2"]
    with serving("fastapi", database, survives=False) as server:
        assert server.post(f"/orders/{done}", durable="1").status_code == 200
        assert server.post(f"/orders/{rejected}", durable="1", outcome="reject").status_code == 409
        assert fates(*labels(done, rejected)) == {
            **dict.fromkeys(labels(done), "dispatched"),
            **dict.fromkeys(labels(rejected), "discarded"),
        }
        with ThreadPoolExecutor(len(held)) as pool:
            calls = [
                pool.submit(server.post, f"/orders/{tag}", outcome=outcome, durable="1", hold="1")
                for tag, outcome in held.items()
            ]
            wait_until(
                lambda: all(FATES.client.exists(held_key(tag)) for tag in held),
                what="the held requests to end their transactions",
            )
            # The committed requests' rows are there, the rolled-back one wrote none, the 409's
            # were deleted, the completed request's are sent; only the rollback has a fate.
            before = expected(labels(done), labels(*committed))
            wait_until(
                lambda: rows(database) == before,
                what="the outbox rows before the kill",
            )
            every = {e["label"]: e["fate"] for e in FATES.entries()}
            assert every == {
                **dict.fromkeys(labels(done), "dispatched"),
                **dict.fromkeys(labels(rejected), "discarded"),
                **dict.fromkeys(labels("sigkill-undone"), "rolled_back"),
            }
            server.process.proc.send_signal(signal.SIGKILL)
            assert server.process.proc.wait(10) == -signal.SIGKILL
            for call in calls:
                with pytest.raises(httpx.TransportError):
                    call.result()
    # Nothing of the held requests left the dead process.
    assert ran_so_far("sigkill-sentinel-1") == [*labels(done), "sigkill-sentinel-1"]
    assert [order_rows(server, tag) for tag in held] == [1, 1, 0]
    assert rows(database) == before

    with relaying(database) as relay:
        wait_until(
            lambda: set(labels(*committed)) <= set(RAN.labels()),
            what="the relay's sends to run",
        )
        ran = ran_so_far("sigkill-sentinel-2")
        relay.stop()  # SIGTERM: it stops and prints its counters
        assert relay.proc.returncode == 0, relay.output()[-3000:]
        assert "sent=4 retried=0 dead=0" in relay.output(), relay.output()[-3000:]
    # Before the first sentinel what ran before the kill, then the relayed intents, each once,
    # then the second sentinel: no rolled-back, rejected or already-sent intent among them.
    assert ran[:3] == [*labels(done), "sigkill-sentinel-1"] and ran[-1] == "sigkill-sentinel-2"
    assert sorted(ran[3:-1]) == sorted(labels(*committed))
    for tag in committed:  # sent after the commit: the task found its order
        assert entry(f"{tag}:order")["order_tag"] == tag
    assert rows(database) == expected(labels(done, *committed), [])
