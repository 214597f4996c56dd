"""The app tests/web/test_uvicorn.py serves with uvicorn: each dispatched note is appended to
the file named by AIRLOCK_WEB_SENT (one per line), and each intent's fate, as ``name fate``, to
the file named by AIRLOCK_WEB_FATES, so the test can wait for a discard it cannot otherwise see."""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException

import airlock
from airlock import _events
from airlock.integrations.asgi import AirlockMiddleware

FINAL = {_events.DISPATCHED, _events.FAILED, _events.DISCARDED, _events.DROPPED}


def note(text: str) -> None:
    """The task: append ``text`` to the file the test reads."""
    with open(os.environ["AIRLOCK_WEB_SENT"], "a") as file:
        file.write(text + "\n")


def record_fate(event: str, intent: airlock.Intent, scope: object, detail: object) -> None:
    """A test-only observer (airlock's event list, as airlock.testing uses it): not an API."""
    if event in FINAL:
        with open(os.environ["AIRLOCK_WEB_FATES"], "a") as file:
            file.write(f"{intent.args[0]} {event}\n")


airlock.configure(executor="airlock.integrations.executors.sync.sync_executor")
_events.subscribe(record_fate)
app = FastAPI()
app.add_middleware(AirlockMiddleware)


@app.post("/orders/{name}")
async def order(name: str) -> dict[str, str]:
    airlock.enqueue(note, name)
    if name.startswith("bad"):
        raise HTTPException(422)
    return {"ordered": name}
