from __future__ import annotations

import pytest

from tests.django import tasks


@pytest.fixture(autouse=True)
def ran():
    """What the `record` task ran during the test (the default sync executor runs it)."""
    tasks.RAN.clear()
    yield tasks.RAN
    tasks.RAN.clear()
