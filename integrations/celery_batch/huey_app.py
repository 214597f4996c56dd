"""huey app of the batched-path end-to-end suite: a stock consumer on Redis DB 9.

The task records each run (arguments, task id, eta) into Redis DB 9 (another key).
"""

from __future__ import annotations

from typing import Any

from huey import RedisHuey

from integrations.common.recorder import Recorder
from tests.services import redis_url

RECORDER = Recorder(db=9, key="airlock:perf:huey:ran")

huey = RedisHuey("airlock_perf_e2e", url=redis_url(9), results=False, utc=True)


@huey.task(context=True, name="perf_record")
def record(label: str, *args: Any, task: Any = None, **kwargs: Any) -> None:
    """Record that it ran, with what a consumer sees of the message."""
    RECORDER.record(
        label,
        args=list(args),
        kwargs=kwargs,
        task_id=task.id,
        eta=task.eta.isoformat() if task.eta else None,
    )
