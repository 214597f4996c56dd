"""The executor of the ordering suite's relay processes: records each send in a table.

The record is written in the relay's savepoint for that row, so it commits exactly when the
row's ``sent`` fate does: the log's ids give the order in which each key's rows were sent.
The head ``FAILING`` fails its first two sends, counted by a sequence (a rollback keeps it).
"""

from __future__ import annotations

from django.db import connection

from airlock import Intent

LOG = "airlock_e2e_ordering_log"
FAILS = "airlock_e2e_ordering_fails"
FAILING = ("k3", 0)


def record_send(intent: Intent) -> None:
    key, seq = intent.args
    with connection.cursor() as cursor:
        if (key, seq) == FAILING:
            cursor.execute(f"SELECT nextval('{FAILS}')")
            if cursor.fetchone()[0] <= 2:
                raise ConnectionError("broker unreachable")
        cursor.execute(f"INSERT INTO {LOG} (key, seq) VALUES (%s, %s)", [key, seq])


def create(cursor: object) -> None:
    """The log table and the failure counter, empty (run by the test before the relays)."""
    for sql in (
        f"DROP TABLE IF EXISTS {LOG}",
        f"DROP SEQUENCE IF EXISTS {FAILS}",
        f"CREATE TABLE {LOG} (id bigserial PRIMARY KEY, key text NOT NULL, seq int NOT NULL)",
        f"CREATE SEQUENCE {FAILS}",
    ):
        cursor.execute(sql)  # type: ignore[attr-defined]
