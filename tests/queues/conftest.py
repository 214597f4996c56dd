"""Fast suites for the queue executors: real libraries with their in-process backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import airlock


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    airlock.reset_configuration()
    yield
    airlock.reset_configuration()
