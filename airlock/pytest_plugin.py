"""pytest plugin (registered through the ``pytest11`` entry point): airlock fixtures.

- ``airlock_capture``: a ``airlock.testing.Capture`` active for the test; executors run nothing.
- ``airlock_capture_executing``: the same, but executors run as configured.
- ``airlock_configuration``: ``airlock.configure``; whatever the test configures is undone after.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airlock.testing import Capture


@pytest.fixture
def airlock_capture() -> Iterator[Capture]:
    """Record every intent and its fate during the test; nothing is executed."""
    from airlock.testing import capture

    with capture() as captured:
        yield captured


@pytest.fixture
def airlock_capture_executing() -> Iterator[Capture]:
    """Record every intent and its fate during the test; executors run as configured."""
    from airlock.testing import capture

    with capture(execute=True) as captured:
        yield captured


@pytest.fixture
def airlock_configuration() -> Iterator[Callable[..., None]]:
    """``airlock.configure``, with the previous configuration restored after the test."""
    from airlock import _config

    with _config._lock:
        saved: dict[str, Any] = dict(_config.current())
    yield _config.configure
    with _config._lock:
        _config.current().clear()
        _config.current().update(saved)
