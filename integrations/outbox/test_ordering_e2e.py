"""Ordering keys end to end: four ``airlock_relay`` processes on PostgreSQL, 10,000 rows over
100 keys, one key's head failing twice before it succeeds (issue 16, "Done when")."""

from __future__ import annotations

import contextlib
import re

import pytest
from django.db import connection

from integrations.outbox import ordering_app
from tests.outbox.ordering import check_order, make_ordered_rows
from tests.processes import running, wait_until
from tests.services import require_service

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

KEYS, PER_KEY = 100, 100


def logged() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, seq FROM {ordering_app.LOG} ORDER BY id")
        return [(key, seq) for key, seq in cursor.fetchall()]


def test_four_relays_keep_each_keys_order_while_one_head_fails_twice() -> None:
    require_service("postgres")
    with connection.cursor() as cursor:
        ordering_app.create(cursor)
    total = make_ordered_rows(KEYS, PER_KEY)
    env = {
        "DJANGO_SETTINGS_MODULE": "integrations.outbox.ordering_settings",
        "AIRLOCK_E2E_DB_NAME": connection.settings_dict["NAME"],
    }
    argv = ["python", "-m", "django", "airlock_relay", "--no-progress", "--batch-size", "25"]
    try:
        with contextlib.ExitStack() as stack:
            relays = [
                stack.enter_context(
                    running(argv, env=env, ready=lambda w: "relaying from" in w.output())
                )
                for _ in range(4)
            ]
            wait_until(lambda: len(logged()) >= total, timeout=180, interval=0.5,
                       what="10,000 sent")  # fmt: skip
            for relay in relays:
                relay.stop()
            counts = [re.findall(r"sent=(\d+) retried=(\d+)", r.output())[-1] for r in relays]
        sent = logged()
        check_order(sent, KEYS, PER_KEY)  # each key in order, none lost, none twice
        assert sum(int(s) for s, _ in counts) == total
        assert sum(int(r) for _, r in counts) == 2  # the head k3#0 failed twice
        assert sum(1 for s, _ in counts if int(s)) >= 2, counts  # they really shared the work
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {ordering_app.LOG}")
            cursor.execute(f"DROP SEQUENCE IF EXISTS {ordering_app.FAILS}")
