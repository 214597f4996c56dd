"""Fixtures shared by every fast suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import airlock
from airlock import _config, _strict


@pytest.fixture(autouse=True)
def _restore_airlock_configuration() -> Iterator[None]:
    """Whatever a test configures, the next test finds the configuration this one found.

    pytest-django reorders database tests to the end of the run, so without this a suite
    that resets the configuration would take DjangoScope (set by the app's ready()) away
    from the Django suites that happen to run after it.
    """
    saved = {k: dict(v) if isinstance(v, dict) else v for k, v in _config.current().items()}
    yield
    _config.current().clear()
    _config.current().update(saved)
    _strict.configure(saved["strict"])  # unpatches the queue libraries if a test left it on


@pytest.fixture
def fresh_configuration() -> None:
    """Start the test from airlock's defaults (what was configured before comes back after)."""
    airlock.reset_configuration()
