"""The Flask app of the web suite, served by gunicorn (gthread): a sync Session (psycopg).

The ``Airlock`` extension gives each request a ``SQLAlchemyScope``; the tracked
``sessionmaker`` ties each intent to the request's transaction. The views are those of
``fastapi_app`` (see there) but the streaming one: a Flask generator body runs after teardown,
outside the request's scope.
"""

from __future__ import annotations

from flask import Flask, abort, g, request
from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

import airlock
from airlock.integrations.flask import Airlock
from airlock.integrations.sqlalchemy import track
from integrations.web.shop import configure_airlock, engine, orders
from integrations.web.tasks import record, record_order

configure_airlock()
Session = track(sessionmaker(engine(), expire_on_commit=False))
app = Flask(__name__)
Airlock(app)


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/orders/<tag>")
def order(tag: str) -> dict[str, object]:
    outcome = request.args.get("outcome", "commit")
    with Session() as session:
        order_id = session.execute(insert(orders).values(tag=tag)).inserted_primary_key[0]
        airlock.enqueue(record_order, f"{tag}:order", order_id)
        airlock.enqueue(record, f"{tag}:mail")
        if outcome == "rollback":
            session.rollback()
        else:
            session.commit()
    if outcome == "reject":
        abort(409)
    if outcome == "error":
        raise RuntimeError("the view fails after the commit")
    return {"order": order_id, "held": len(g.airlock_scope.intents)}


@app.post("/savepoint/<tag>")
def savepoint(tag: str) -> dict[str, object]:
    with Session() as session:
        order_id = session.execute(insert(orders).values(tag=tag)).inserted_primary_key[0]
        airlock.enqueue(record_order, f"{tag}:outer", order_id)
        nested = session.begin_nested()
        airlock.enqueue(record, f"{tag}:inner")
        nested.rollback()
        session.commit()
    return {"order": order_id}
