"""``SHOP_EXECUTOR`` switches the shop to a real queue: the demo's tasks run on a real worker.

Celery and huey on Redis DB 7 (reserved for the example), each test on a queue of its own.
Only what committed and was flushed reaches the worker: the declined, raising, rolled-back and
DropAll cases send nothing.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.example.helpers import EXAMPLE, manage, shop_env
from tests.processes import running
from tests.services import redis_url, require_module

pytestmark = pytest.mark.requires("redis")

WORKERS = {
    "celery": (
        "python -m celery -A shop_site.worker worker --pool=solo --loglevel=info "
        "--without-gossip --without-mingle --without-heartbeat".split(),
        "ready.",
    ),
    "huey": ("python manage.py run_huey --workers=1".split(), "consumer started"),
}

# Case 1 (ada's order, #1) and case 4 (dee's order, #3: SQLite reuses the rolled-back id of case 3).
EXPECTED = {
    (task, order)
    for order in (1, 3)
    for task in ("track_event", "send_receipt", "notify_warehouse")
}


@pytest.mark.parametrize("backend", sorted(WORKERS))
def test_demo_sends_only_committed_intents_to_the_worker(
    new_shop_db: Callable[[], Path], backend: str
) -> None:
    require_module(backend, backend)
    import redis

    # A queue of this test's own: concurrent runs of the suite never take each other's tasks.
    queue = f"airlock-example-test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url(7))
    db = new_shop_db()
    env = {"SHOP_EXECUTOR": backend, "SHOP_REDIS_URL": redis_url(7), "SHOP_QUEUE": queue}
    argv, ready_text = WORKERS[backend]
    ready = lambda worker: ready_text in worker.output()  # noqa: E731
    with running(argv, env=shop_env(db, **env), cwd=EXAMPLE, ready=ready) as worker:
        output = manage(db, "demo", **env)
        assert f"The {backend} worker ran 6 of the 6 tasks sent." in output, worker.output()

    for key in client.scan_iter(f"*{queue}*"):
        client.delete(key)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT task, order_id FROM shop_effect").fetchall()
    assert sorted(rows) == sorted(EXPECTED)
    assert "5. A bulk command under DropAll" in output
    assert "6. A task that fails" not in output  # simulated in-process: sync executor only
