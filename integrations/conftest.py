"""End-to-end suites: real brokers, real worker processes. Every test here needs services.

Shared fixtures: ``e2e_db_name`` (the test database a worker must use), ``recorder_for``
(a Redis recorder on one of your suite's reserved DBs, emptied before each test) and
``publish_path`` (``per-message`` or ``batched``, see ``common/publishing.py``).
"""

from __future__ import annotations

import pytest

from tests.services import require_module, require_service


@pytest.fixture(scope="session")
def e2e_db_name(django_db_setup, django_db_blocker) -> str:
    """The name of the PostgreSQL test database; pass it to workers (AIRLOCK_E2E_DB_NAME)."""
    require_service("postgres")
    from django.db import connection

    return str(connection.settings_dict["NAME"])


@pytest.fixture
def recorder_for():
    """``recorder_for(db)``: a ``Recorder`` on Redis DB ``db``, emptied now."""
    require_service("redis")
    require_module("redis", "dev")
    from integrations.common.recorder import Recorder

    def make(db: int):
        recorder = Recorder(db)
        recorder.flush()
        return recorder

    return make


@pytest.fixture(scope="module")
def publish_path(request) -> str:
    """``per-message`` or ``batched``: set by ``common.publishing.parametrize_paths``."""
    return str(getattr(request, "param", "per-message"))
