"""The app tests/web/test_uvicorn.py serves with uvicorn: each dispatched note is appended to
the file named by AIRLOCK_WEB_SENT (one per line)."""

from __future__ import annotations

import os

from fastapi import FastAPI, HTTPException

import airlock
from airlock.integrations.asgi import AirlockMiddleware


def note(text: str) -> None:
    """The task: append ``text`` to the file the test reads."""
    with open(os.environ["AIRLOCK_WEB_SENT"], "a") as file:
        file.write(text + "\n")


airlock.configure(executor="airlock.integrations.executors.sync.sync_executor")
app = FastAPI()
app.add_middleware(AirlockMiddleware)


@app.post("/orders/{name}")
async def order(name: str) -> dict[str, str]:
    airlock.enqueue(note, name)
    if name.startswith("bad"):
        raise HTTPException(422)
    return {"ordered": name}
