"""Fast suites for the queue executors: real libraries with their in-process backends."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _defaults(fresh_configuration: None) -> None:
    """Each test starts from airlock's defaults (tests/conftest.py restores the rest)."""
