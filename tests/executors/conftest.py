from __future__ import annotations

from collections.abc import Iterator

import pytest

import airlock


@pytest.fixture(autouse=True)
def _fresh_configuration() -> Iterator[None]:
    """Each test starts from airlock's defaults; what was configured before is put back."""
    before = airlock.get_configuration()
    airlock.reset_configuration()
    yield
    airlock.reset_configuration()
    airlock.configure(**{k: v for k, v in before.items() if v not in (None, {})})
