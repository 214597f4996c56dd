"""Fixtures of the web suite (imports inside them: a missing library skips, see servers.py).

``database``: ``airlock_web_e2e<AIRLOCK_DB_SUFFIX>`` with the ``web_orders`` table, made per
module and dropped afterwards (no Django involved). ``worker``: one Celery worker for the
module. ``server``: the FastAPI app (uvicorn) and the Flask app (gunicorn), one after the other.
"""

from __future__ import annotations

import pytest

from tests.processes import running
from tests.services import redis_url, require_service


@pytest.fixture(scope="module")
def database():
    """The suite's own database, with the ``web_orders`` table; dropped afterwards."""
    require_service("postgres")
    require_service("redis")
    from sqlalchemy import create_engine, text

    from integrations.web.servers import DB_NAME, database_url
    from integrations.web.shop import metadata

    admin = create_engine(database_url("postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    engine = create_engine(database_url(DB_NAME))
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


@pytest.fixture(scope="module")
def worker(database):
    """One Celery worker (solo pool, Redis DB 1, queue ``airlock_web_e2e``) for the module."""
    from integrations.web.servers import WORKER, environment
    from integrations.web.tasks import app

    app.conf.broker_url = redis_url(1)
    with running(
        WORKER, env=environment(database), ready=lambda w: " ready." in w.output()
    ) as process:
        yield process
        assert process.alive(), process.output()[-3000:]


@pytest.fixture(scope="module", params=["fastapi", "flask"])
def server(request, database, worker):
    """The framework's app served for the whole module, sending to the worker's broker."""
    from integrations.web.servers import serving

    with serving(request.param, database) as running_server:
        yield running_server


@pytest.fixture(autouse=True)
def empty_recorders():
    """Empty the suite's Redis keys before each test."""
    require_service("redis")
    from integrations.web.tasks import clear

    clear()
