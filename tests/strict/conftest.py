"""Fixtures of the strict-mode suites: each test starts from the defaults, strict mode off."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _defaults(fresh_configuration: None) -> None:
    """Airlock's defaults (tests/conftest.py puts the previous configuration back, strict mode
    included)."""
