"""Start a worker process that runs with the end-to-end Django settings and test database."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from tests.processes import Worker, running


@contextlib.contextmanager
def django_worker(
    argv: Sequence[str],
    *,
    db_name: str,
    ready_text: str | None = None,
    ready: Callable[[Worker], object] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[Worker]:
    """Run ``argv`` with ``integrations.settings`` on the test database ``db_name``.

    Ready when ``ready(worker)`` is truthy, or when ``ready_text`` appears in its output. The
    process group is killed when the block ends.
    """
    if ready is None and ready_text is not None:
        text = ready_text

        def ready(worker: Worker) -> object:
            return text in worker.output()

    full_env = {
        "DJANGO_SETTINGS_MODULE": "integrations.settings",
        "AIRLOCK_E2E_DB_NAME": db_name,
        **(env or {}),
    }
    with running(argv, env=full_env, ready=ready, ready_timeout=timeout) as worker:
        yield worker
