"""Fast suites for the queue executors: real libraries with their in-process backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import airlock


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    # pytest-django reorders database tests, so other suites may run after these: give them
    # back the configuration they had (e.g. DjangoScope from the app's ready()).
    before = airlock.get_configuration()
    airlock.reset_configuration()
    yield
    airlock.reset_configuration()
    airlock.configure(**before)
