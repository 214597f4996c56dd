"""Settings of the ordering suite's relay processes: no broker, a recording executor."""

from __future__ import annotations

from integrations.outbox.e2e_settings import *  # noqa: F403

AIRLOCK = {
    "OUTBOX": {
        "EXECUTOR": "integrations.outbox.ordering_app.record_send",
        "TASKS": ["tests.outbox.ordering.ordered"],
        "GRACE": 0,
        "BACKOFF": 0.2,
        "MAX_BACKOFF": 1.0,
        "MAX_ATTEMPTS": 1000,
        "INTERVAL": 0.05,
    },
}
