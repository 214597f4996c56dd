"""The FastAPI app of the web suite, served by uvicorn: AsyncSession (asyncpg) on PostgreSQL.

``AirlockMiddleware`` gives each request a ``SQLAlchemyScope``; the tracked
``async_sessionmaker`` ties each intent to the request's transaction. Views (``tag`` names the
request's intents):

- ``POST /orders/{tag}?outcome=&durable=&hold=``: insert an order, enqueue ``{tag}:order``
  (reads the row) and ``{tag}:mail``; then ``commit``, ``rollback`` (answers 200), ``reject``
  (commits, then 409) or ``error`` (commits, then raises: 500). ``durable=1`` marks both
  intents durable (the outbox, ``shop.outbox``, is installed); ``hold=1`` stops the request
  once its transaction has ended, before the middleware's flush: it sets ``held_key(tag)`` and
  waits for ``release_key(tag)``, so a test can SIGKILL the process at exactly that point;
- ``POST /savepoint/{tag}``: ``{tag}:outer`` in the transaction, ``{tag}:inner`` in a
  ``begin_nested()`` savepoint that rolls back; the transaction commits;
- ``GET /stream/{tag}``: enqueue ``{tag}:stream``, send a first chunk, then hold the body until
  the test sets the Redis key ``release_key(tag)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import airlock
from airlock.integrations.asgi import AirlockMiddleware
from airlock.integrations.fastapi import RequestScope
from airlock.integrations.sqlalchemy import track
from integrations.web.shop import (
    configure_airlock,
    engine,
    held_key,
    orders,
    outbox,
    release_key,
)
from integrations.web.tasks import FATES, record, record_order

configure_airlock()
outbox.install()
DURABLE = {"durable": True}
Session = track(
    async_sessionmaker(
        create_async_engine(engine().url.set(drivername="postgresql+asyncpg")),
        expire_on_commit=False,
    )
)
app = FastAPI()
app.add_middleware(AirlockMiddleware)


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


async def released(tag: str) -> None:
    """Wait for the test to set ``release_key(tag)`` (deadline 30 s)."""
    deadline = time.monotonic() + 30
    while not await asyncio.to_thread(FATES.client.exists, release_key(tag)):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the test never released {tag}")
        await asyncio.sleep(0.02)


@app.post("/orders/{tag}")
async def order(
    tag: str,
    scope: RequestScope,
    outcome: str = "commit",
    durable: bool = False,
    hold: bool = False,
) -> dict[str, object]:
    options = DURABLE if durable else None
    async with Session() as session:
        result = await session.execute(insert(orders).values(tag=tag))
        order_id = result.inserted_primary_key[0]
        airlock.enqueue(record_order, f"{tag}:order", order_id, _dispatch_options=options)
        airlock.enqueue(record, f"{tag}:mail", _dispatch_options=options)
        if outcome == "rollback":
            await session.rollback()
        else:
            await session.commit()
    if hold:  # committed (or rolled back); the request's scope has not flushed
        await asyncio.to_thread(FATES.client.set, held_key(tag), 1)
        await released(tag)
    if outcome == "reject":
        raise HTTPException(409, "rejected after the commit")
    if outcome == "error":
        raise RuntimeError("the view fails after the commit")
    return {"order": order_id, "held": len(scope.intents)}


@app.post("/savepoint/{tag}")
async def savepoint(tag: str) -> dict[str, object]:
    async with Session() as session:
        result = await session.execute(insert(orders).values(tag=tag))
        order_id = result.inserted_primary_key[0]
        airlock.enqueue(record_order, f"{tag}:outer", order_id)
        nested = await session.begin_nested()
        airlock.enqueue(record, f"{tag}:inner")
        await nested.rollback()
        await session.commit()
    return {"order": order_id}


@app.get("/stream/{tag}")
async def stream(tag: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        airlock.enqueue(record, f"{tag}:stream")
        yield b"first\n"
        await released(tag)
        yield b"last\n"

    return StreamingResponse(body(), media_type="text/plain")
