"""Settings of the inbox suite's child processes (producer, relay, workers).

Env ``AIRLOCK_INBOX_QUEUE`` (``celery`` or ``dramatiq``) picks the executors: the producer sends
with the queue's batch executor (a whole flush in one Redis transaction, so a SIGKILL after it
leaves hundreds of rows sent but not marked sent), the relay with its per-message executor.
"""

from __future__ import annotations

import os

from integrations.outbox.e2e_settings import *  # noqa: F403
from integrations.outbox.e2e_settings import AIRLOCK as _OUTBOX_AIRLOCK

_QUEUE = os.environ.get("AIRLOCK_INBOX_QUEUE", "celery")
_EXECUTORS = "airlock.integrations.executors"
AIRLOCK = {
    "EXECUTOR": f"{_EXECUTORS}.{_QUEUE}.{_QUEUE}_batch_executor",
    "OUTBOX": {
        **_OUTBOX_AIRLOCK["OUTBOX"],  # type: ignore[dict-item]
        "EXECUTOR": f"{_EXECUTORS}.{_QUEUE}.{_QUEUE}_executor",
        "CELERY_APP": "integrations.inbox.celery_app.app",
        "TASKS": ["integrations.inbox.dramatiq_app.apply_order_actor"]
        if _QUEUE == "dramatiq"
        else [],
    },
    "INBOX": {"RETENTION_DAYS": 7},
}
