"""Child process of the crash test: a plain SQLAlchemy program (no web framework) that commits
orders with durable intents, rolls a second batch back, then dies by SIGKILL while its scope is
still open: the transaction committed, the in-process flush never happens, nothing is sent.

Usage: python -m integrations.sqlalchemy_outbox.writer URL COMMITTED ROLLED_BACK
"""

from __future__ import annotations

import os
import signal
import sys

from sqlalchemy import create_engine, insert
from sqlalchemy.orm import sessionmaker

import airlock
from airlock.integrations.sqlalchemy import SQLAlchemyScope, track
from integrations.sqlalchemy_outbox.app import orders, outbox, record_delivery

DURABLE = {"durable": True}


def main(url: str, committed: int, rolled_back: int) -> None:
    engine = create_engine(url)
    outbox.install()
    Session = track(sessionmaker(engine))
    with airlock.scope(_cls=SQLAlchemyScope):
        with Session() as session, session.begin():
            for n in range(committed):
                order = session.execute(insert(orders).values(note=f"order {n}"))
                airlock.enqueue(
                    record_delivery, order.inserted_primary_key[0], _dispatch_options=DURABLE
                )
        with Session() as session, session.begin():
            for n in range(rolled_back):
                order = session.execute(insert(orders).values(note=f"rolled back {n}"))
                airlock.enqueue(
                    record_delivery, order.inserted_primary_key[0], _dispatch_options=DURABLE
                )
            session.rollback()
        print("committed; dying before the scope decides", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
