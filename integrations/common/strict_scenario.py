"""Strict mode end to end, shared by the dramatiq, huey, django-q2 and Django tasks suites.

In the test process, a suite's ``strict/bypass/`` view publishes directly inside the request's
``atomic`` (line marked ``# STRICT BYPASS`` in its ``urls.py``): "raise" raises
``StrictModeError`` there and nothing reaches the worker; "warn" lets the message leave with one
warning per call site; ``strict/enqueue/``, the same call through ``airlock.enqueue``, is not
reported and runs on the worker. What reached the worker is proven with a sentinel sent through
airlock afterwards: the worker takes messages in order, one at a time.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

import airlock
from airlock.exceptions import StrictModeError, StrictModeWarning
from integrations.common.models import Note
from integrations.common.queue_scenario import QueueSuite

MARKER = "# STRICT BYPASS"


def line_of(module: ModuleType, marker: str = MARKER) -> tuple[str, int]:
    """The file of ``module`` and the one line of it that ends with ``marker``."""
    path = str(module.__file__)
    lines = Path(path).read_text().splitlines()
    [line] = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(marker)]
    return path, line


def ran_so_far_through_airlock(suite: QueueSuite, tag: str) -> list[str]:
    """Send a sentinel through airlock (a scope, no transaction) and wait until it ran: the
    labels so far are everything that reached the worker before it."""
    with airlock.scope():
        airlock.enqueue(suite.record, tag)
    suite.recorder.wait_for(tag)
    return suite.recorder.labels()


def check_raise(
    settings: Any, suite: QueueSuite, prefix: str, views: ModuleType, table: str | None = None
) -> None:
    """Mode "raise": StrictModeError at the view's line, the request rolls back, nothing leaves.

    ``table``: a database backend's table of messages. Its row would be rolled back with the
    request anyway, so the check also proves that no INSERT into it was even attempted.
    """
    settings.AIRLOCK = {**settings.AIRLOCK, "STRICT": "raise"}
    with CaptureQueriesContext(connection) as queries, pytest.raises(StrictModeError) as error:
        Client().get(f"/{prefix}/strict/bypass/")
    assert (error.value.filename, error.value.lineno) == line_of(views)
    if table is not None:
        inserts = [q["sql"] for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
        assert inserts == [], "the message was written before strict mode raised"
    assert not Note.objects.exists()
    assert ran_so_far_through_airlock(suite, "sentinel-after") == ["sentinel-after"]


def check_warn(settings: Any, suite: QueueSuite, prefix: str, views: ModuleType) -> None:
    """Mode "warn": one warning naming the view's line for two requests; both messages leave."""
    settings.AIRLOCK = {**settings.AIRLOCK, "STRICT": "warn"}
    client = Client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert client.get(f"/{prefix}/strict/bypass/").status_code == 200
        assert client.get(f"/{prefix}/strict/bypass/").status_code == 200
    reports = [w for w in caught if w.category is StrictModeWarning]
    assert [(w.filename, w.lineno) for w in reports] == [line_of(views)]
    ran = ran_so_far_through_airlock(suite, "sentinel-after")
    assert ran == ["bypass", "bypass", "sentinel-after"]


def check_through_airlock(settings: Any, suite: QueueSuite, prefix: str) -> None:
    """The same call through ``airlock.enqueue`` is not reported and runs on the worker."""
    settings.AIRLOCK = {**settings.AIRLOCK, "STRICT": "raise"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", StrictModeWarning)
        assert Client().get(f"/{prefix}/strict/enqueue/").status_code == 200
    ran = ran_so_far_through_airlock(suite, "sentinel-after")
    assert ran == ["through-airlock", "sentinel-after"]
